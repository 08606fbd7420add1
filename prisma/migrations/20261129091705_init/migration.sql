-- CreateTable
CREATE TABLE "Run" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "guest" TEXT,
    "imageHash" TEXT NOT NULL,
    "config" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'created',
    "outcome" TEXT,
    "totals" TEXT,
    "startedAt" DATETIME,
    "endedAt" DATETIME,
    "recordCount" INTEGER NOT NULL DEFAULT 0,
    "lastSeq" INTEGER NOT NULL DEFAULT -1,
    "imported" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "Run_imageHash_fkey" FOREIGN KEY ("imageHash") REFERENCES "Image" ("hash") ON DELETE RESTRICT ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Image" (
    "hash" TEXT NOT NULL PRIMARY KEY,
    "size" INTEGER NOT NULL,
    "bytes" BLOB NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "RecordChunk" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "runId" TEXT NOT NULL,
    "index" INTEGER NOT NULL,
    "firstSeq" INTEGER NOT NULL,
    "lastSeq" INTEGER NOT NULL,
    "firstTs" REAL NOT NULL,
    "lastTs" REAL NOT NULL,
    "count" INTEGER NOT NULL,
    "data" BLOB NOT NULL,
    CONSTRAINT "RecordChunk_runId_fkey" FOREIGN KEY ("runId") REFERENCES "Run" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "Run_createdAt_id_idx" ON "Run"("createdAt", "id");

-- CreateIndex
CREATE INDEX "Run_status_idx" ON "Run"("status");

-- CreateIndex
CREATE INDEX "RecordChunk_runId_firstSeq_idx" ON "RecordChunk"("runId", "firstSeq");

-- CreateIndex
CREATE INDEX "RecordChunk_runId_firstTs_idx" ON "RecordChunk"("runId", "firstTs");

-- CreateIndex
CREATE UNIQUE INDEX "RecordChunk_runId_index_key" ON "RecordChunk"("runId", "index");
