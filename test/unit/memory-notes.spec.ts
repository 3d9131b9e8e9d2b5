/** What the case says about the suspect kernel, from the host script's reports (functions/acquisition/memory.ts memoryNotes). */
import * as assert from "assert";
import { HostReport, MemoryAttempt, memoryNotes } from "../../functions/acquisition/memory";

const report = (r: Partial<HostReport>): HostReport => ({ tool: "lime", toolVersion: "1.9.1", bytes: 1, sha256: null, bannerSeen: true, partCount: 1, errors: [], ...r });
const attempt = (n: number, r?: HostReport): MemoryAttempt => ({ attempt: n, key: "k", uploadId: "u", startedAt: "2026-12-02T00:00:00Z", report: r });

describe("memory notes for the case record", function () {
    it("names the taint flags LiME raised (O: out-of-tree, E: unsigned)", function () {
        assert.deepStrictEqual(memoryNotes([attempt(1, report({ taint: { before: 0, after: 12288 } }))]), [
            "attempt 1: loading LiME changed the suspect kernel's taint flags from 0 to 12288 (O: out-of-tree module, E: unsigned module)",
        ]);
    });

    it("says nothing of an unchanged taint, and says why LiME stayed out under lockdown", function () {
        const notes = memoryNotes([
            attempt(1, report({ tool: null, lockdown: "integrity", secureBoot: true, taint: { before: 12288, after: 12288 } })),
            attempt(2, report({ tool: "avml", source: "/proc/kcore", lockdown: "integrity", secureBoot: true })),
            attempt(3),
        ]);
        assert.deepStrictEqual(notes, [
            "attempt 1: the kernel is in lockdown (integrity, Secure Boot on): an unsigned LiME cannot load",
            "attempt 2: the kernel is in lockdown (integrity, Secure Boot on): an unsigned LiME cannot load; AVML read /proc/kcore instead",
        ]);
    });
});
