-- CreateTable
CREATE TABLE "ClassSession" (
    "code" TEXT NOT NULL PRIMARY KEY,
    "walkthroughId" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'open',
    "stepIndex" INTEGER NOT NULL DEFAULT -1,
    "reachedJson" TEXT NOT NULL DEFAULT '[]',
    "revealedJson" TEXT NOT NULL DEFAULT '[]',
    "mainRunId" TEXT,
    "compareRunId" TEXT,
    "error" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_Run" (
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
    "sessionCode" TEXT,
    CONSTRAINT "Run_imageHash_fkey" FOREIGN KEY ("imageHash") REFERENCES "Image" ("hash") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "Run_sessionCode_fkey" FOREIGN KEY ("sessionCode") REFERENCES "ClassSession" ("code") ON DELETE SET NULL ON UPDATE CASCADE
);
INSERT INTO "new_Run" ("config", "createdAt", "endedAt", "guest", "id", "imageHash", "imported", "lastSeq", "outcome", "recordCount", "startedAt", "status", "totals", "updatedAt") SELECT "config", "createdAt", "endedAt", "guest", "id", "imageHash", "imported", "lastSeq", "outcome", "recordCount", "startedAt", "status", "totals", "updatedAt" FROM "Run";
DROP TABLE "Run";
ALTER TABLE "new_Run" RENAME TO "Run";
CREATE INDEX "Run_createdAt_id_idx" ON "Run"("createdAt", "id");
CREATE INDEX "Run_status_idx" ON "Run"("status");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
