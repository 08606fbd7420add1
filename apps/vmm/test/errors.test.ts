// One error type carries the status a request failing with it answers with; the service reads it.
import { describe, expect, it } from "vitest";
import { ConfigError, ConflictError, FollowError, ForbiddenError, LimitError, NotFoundError, StatusError, statusOf, UnavailableError } from "../src/index.js";
import * as dist from "@kvmscope/vmm";

describe("StatusError", () => {
  it("gives every service and core error its status, and anything else 500", () => {
    expect([
      new NotFoundError("x"), new ForbiddenError("x"), new ConflictError("x"), new LimitError("x"), new LimitError("x", 413),
      new UnavailableError("x"), new ConfigError("x"), new FollowError(0, "s", "x"),
    ].map(statusOf)).toEqual([404, 403, 409, 429, 413, 503, 400, 422]);
    expect(statusOf(new Error("x"))).toBe(500);
    expect(statusOf("text")).toBe(500);
    expect(statusOf(new StatusError(200, "not an error status"))).toBe(500);
  });

  it("is recognised across copies of the module (src and dist), without looking at names", () => {
    expect(statusOf(new dist.ConflictError("from dist"))).toBe(409);
    expect(new dist.NotFoundError("x")).toBeInstanceOf(StatusError);
    expect(new NotFoundError("x")).not.toBeInstanceOf(ConflictError);
    const impostor = Object.assign(new Error("x"), { name: "NotFoundError" });
    expect(statusOf(impostor)).toBe(500);
  });
});
