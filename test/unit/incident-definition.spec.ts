import * as assert from "assert";
import aslValidator from "asl-validator";
import { StateMachine } from "aws-local-stepfunctions";
import { incidentDefinition, IncidentFunctions } from "../../components/security/incidentDefinition";
import { CONTAIN_RETRY_SECONDS } from "../../functions/response/containment";

const FNS: IncidentFunctions = {
    triage: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-triage",
    isolate: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-isolate",
    record: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-record",
    contain: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-contain",
    close: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-close",
    memory: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-memory",
    disk: "arn:aws:lambda:eu-west-1:222233334444:function:ir-forensics-disk",
};
const TOPIC = "arn:aws:sns:eu-west-1:222233334444:ir-forensics-notifications";
const definition = incidentDefinition(FNS, { partition: "aws", topicArn: TOPIC });
const states = definition.States as Record<string, any>;

const INPUT = {
    caseId: "444455556666-eu-west-1-i-0123456789abcdef0-20261123T134512Z",
    mode: "analyze",
    instance: { accountId: "444455556666", region: "eu-west-1", instanceId: "i-0123456789abcdef0" },
    trigger: { source: "tag", requested: "analyze", eventId: "e-1", eventTime: "2026-11-23T13:45:12Z" },
    openedAt: "2026-11-23T13:45:12Z",
};

/** Next states of a state (Next, Choice targets and Default, Catch targets). */
function successors(state: any): string[] {
    return [
        state.Next,
        state.Default,
        ...(state.Choices ?? []).map((c: any) => c.Next),
        ...(state.Catch ?? []).map((c: any) => c.Next),
    ].filter((s): s is string => typeof s === "string");
}

type Failures = Partial<Record<keyof IncidentFunctions | "memoryBegin" | "memoryAdvance" | "diskBegin" | "diskAdvance" | "diskFinish", string>> & {
    /** Attempts of containment after which the instance still shows open parts (default 0: the first holds). */
    openAttempts?: number;
};

/**
 * An acquisition branch's function: `begin` returns a document that waits, each `advance` counts a round
 * until `rounds`, `finish` returns the branch's record. `fail` names the actions that throw.
 */
function branch(step: "memory" | "disk", rounds: number, trace: string[], fail: Failures) {
    const crash = (what: keyof Failures) => {
        if (fail[what]) {
            throw Object.assign(new Error(String(fail[what])), { name: "StepCrashed" });
        }
    };
    const key = (action: string) => `${step}${action}` as keyof Failures;
    return {
        begin: async (input: any) => {
            trace.push(`${step}:begin`);
            crash(key("Begin"));
            assert.strictEqual(input.action, "begin");
            return { caseId: input.case.caseId, rounds: 0, waiting: true, done: false, ...(step === "disk" ? { stage: "snapshots" } : {}) };
        },
        advance: async (input: any) => {
            trace.push(`${step}:advance`);
            crash(key("Advance"));
            const n = input.progress.rounds + 1;
            return { ...input.progress, rounds: n, waiting: n % 2 === 1, done: n >= rounds };
        },
        finish: async (input: any) => {
            trace.push(`${step}:finish`);
            crash(key("Finish"));
            const p = input.progress;
            return {
                step, status: p.branchError ? "partial" : "succeeded", startedAt: "t0", endedAt: "t1", actions: [], rounds: p.rounds,
                ...(p.branchError ? { error: p.branchError.Error } : {}),
            };
        },
    };
}

/** Step handlers that append their step to the case; `fail` makes the named step throw. */
function handlers(trace: string[], fail: Failures = {}) {
    const step = (name: keyof IncidentFunctions) => async (input: any) => {
        trace.push(name);
        if (fail[name]) {
            throw Object.assign(new Error(fail[name]), { name: "StepCrashed" });
        }
        const state = { ...input, steps: [...input.steps, { step: name, status: "succeeded" }] };
        if (name === "contain") {
            // As containment does: the disk chain's document moves to diskProgress, the instance is read back.
            const chain = input.acquisition?.find((a: any) => a.stage);
            state.acquisition = input.acquisition?.filter((a: any) => !a.stage);
            if (chain) {
                state.diskProgress = chain;
            }
            const attempts = (input.containment?.attempts ?? 0) + 1;
            const holds = attempts > (fail.openAttempts ?? 0);
            const retry = !holds && attempts <= CONTAIN_RETRY_SECONDS.length ? { retryInSeconds: CONTAIN_RETRY_SECONDS[attempts - 1] } : {};
            state.containment = { attempts, holds, open: holds ? [] : ["ENI eni-1 still in sg-1"], ...retry };
        }
        if (name === "close") {
            state.outcome = input.containment?.holds ? "contained" : "uncontained";
        }
        return state;
    };
    const memory = branch("memory", 3, trace, fail);
    const disk = branch("disk", 4, trace, fail);
    return {
        Triage: step("triage"),
        TriageContained: step("triage"),
        Isolate: step("isolate"),
        Record: step("record"),
        Contain: step("contain"),
        Close: step("close"),
        NotifyAcquisition: async () => {
            trace.push("notify");
            return {};
        },
        MemoryBegin: memory.begin, MemoryAdvance: memory.advance, MemoryFinish: memory.finish,
        DiskBegin: disk.begin, DiskCopyAdvance: disk.advance, DiskCopyFinish: disk.finish,
    };
}

async function run(input: object, trace: string[], fail: Failures = {}) {
    const machine = new StateMachine(definition as any, { validationOptions: { checkArn: false } });
    const execution = machine.run(input as any, {
        overrides: {
            taskResourceLocalHandlers: handlers(trace, fail),
            waitTimeOverrides: { MemoryWait: 0, DiskCopyWait: 0, ContainBackoff: 0 },
            retryIntervalOverrides: { Contain: 0 },
        },
        // aws-local-stepfunctions has no execution ARN of its own: give the context object one.
        context: {
            Execution: { Id: `arn:aws:states:eu-west-1:222233334444:execution:ir-forensics-incident:${INPUT.caseId}` },
            State: { EnteredTime: "2026-11-23T13:45:13Z" },
        } as any,
    });
    return execution.result;
}

/** The copy chain's states: everything after containment that handles `$.diskProgress`. */
const COPY_CHAIN = Object.keys(states).filter((n) => n.startsWith("DiskCopy") || n === "EvidenceCopies");

describe("incident state machine definition", () => {
    it("is valid Amazon States Language", () => {
        const { isValid, errors } = aslValidator(definition);
        assert.deepStrictEqual(errors, []);
        assert.strictEqual(isValid, true);
    });

    it("catches every task's failure; retries Lambda service errors, and any failure of containment", () => {
        for (const [name, state] of Object.entries(states).filter(([, s]) => s.Type === "Task")) {
            assert.ok(state.Catch?.some((c: any) => c.ErrorEquals.includes("States.ALL")), `${name} does not catch`);
            for (const retry of state.Retry ?? []) {
                assert.ok(retry.ErrorEquals.every((e: string) => e.startsWith("Lambda.")) || name === "Contain", `${name} retries ${retry.ErrorEquals}`);
            }
        }
        assert.ok(states.Contain.Retry.some((r: any) => r.ErrorEquals.includes("States.ALL") && r.MaxAttempts >= 2), "Contain retries a crashed attempt");
    });

    it("cannot succeed without passing through containment", () => {
        // Every path from the start to the Succeed state passes Contain.
        const seen = new Set<string>();
        const walk = (name: string): void => {
            if (name === "Contain" || seen.has(name)) {
                return;
            }
            seen.add(name);
            assert.notStrictEqual(states[name].Type, "Succeed", "Succeed is reachable without Contain");
            successors(states[name]).forEach(walk);
        };
        walk(definition.StartAt as string);
    });

    it("no path reaches Contain through a Wait of the disk copy chain, and Acquire's disk branch never waits", () => {
        const reachesContain = (from: string, seen = new Set<string>()): boolean => {
            if (from === "Contain") {
                return true;
            }
            if (seen.has(from)) {
                return false;
            }
            seen.add(from);
            return successors(states[from]).some((n) => reachesContain(n, seen));
        };
        assert.ok(COPY_CHAIN.includes("DiskCopyWait"));
        for (const name of COPY_CHAIN) {
            assert.strictEqual(reachesContain(name), false, `${name} leads back to Contain`);
        }
        const diskBranch = states.Acquire.Branches.find((b: any) => b.StartAt === "DiskBegin");
        assert.deepStrictEqual(Object.values(diskBranch.States).filter((s: any) => s.Type === "Wait"), []);
        assert.deepStrictEqual(Object.keys(diskBranch.States).sort(), ["DiskBegin", "DiskLost"]);
    });

    it("runs memory acquisition and the disk snapshots as parallel branches that cannot fail", () => {
        const acquire = states.Acquire;
        assert.strictEqual(acquire.Type, "Parallel");
        assert.strictEqual(acquire.Branches.length, 2);
        for (const branch of acquire.Branches) {
            for (const s of Object.values(branch.States) as any[]) {
                assert.notStrictEqual(s.Type, "Fail");
            }
        }
    });

    /** The trace without the acquisition branches' entries (they interleave). */
    const main = (trace: string[]) => trace.filter((t) => !t.includes(":"));
    const of = (trace: string[], step: string) => trace.filter((t) => t.startsWith(`${step}:`));

    it("analyze: the cut first, then triage, record, acquisition, containment; the disk copies after containment, then close", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace);
        assert.deepStrictEqual(main(trace), ["isolate", "triage", "record", "notify", "contain", "close"]);
        assert.deepStrictEqual(of(trace, "memory"), ["memory:begin", ...Array(3).fill("memory:advance"), "memory:finish"]);
        assert.deepStrictEqual(of(trace, "disk"), ["disk:begin", ...Array(4).fill("disk:advance"), "disk:finish"]);
        // Containment waits for memory and for the snapshots' start, never for their copies.
        assert.ok(trace.indexOf("memory:finish") < trace.indexOf("contain") && trace.indexOf("disk:begin") < trace.indexOf("contain"));
        assert.ok(trace.indexOf("contain") < trace.indexOf("disk:advance"), "the copies run after containment");
        assert.ok(trace.lastIndexOf("disk:finish") < trace.indexOf("close"));
        assert.strictEqual(out.outcome, "contained");
        assert.deepStrictEqual(out.acquisition.map((a: any) => [a.step, a.status, a.rounds]), [["memory", "succeeded", 3]]);
        assert.deepStrictEqual([out.diskResult.step, out.diskResult.status, out.diskResult.rounds], ["disk", "succeeded", 4]);
        assert.match(out.executionArn, /.+/);
    });

    it("retries containment with backoff until the instance shows it holds", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { openAttempts: 2 });
        assert.deepStrictEqual(main(trace), ["isolate", "triage", "record", "notify", "contain", "contain", "contain", "close"]);
        assert.strictEqual(out.containment.attempts, 3);
        assert.strictEqual(out.outcome, "contained");
        assert.strictEqual(states.ContainBackoff.SecondsPath, "$.containment.retryInSeconds");
    });

    it("ends NotContained only after every attempt, with the evidence copies and the record still done", async () => {
        const trace: string[] = [];
        await assert.rejects(run(INPUT, trace, { openAttempts: 99 }), /without the instance contained/);
        assert.strictEqual(trace.filter((t) => t === "contain").length, CONTAIN_RETRY_SECONDS.length + 1);
        assert.ok(trace.includes("disk:finish") && trace.at(-1) === "close");
    });

    it("a crashed acquisition round ends that branch with what it has; the other branch and containment go on", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { diskAdvance: "snapshot API down" });
        assert.deepStrictEqual(of(trace, "disk"), ["disk:begin", "disk:advance", "disk:finish"]);
        assert.deepStrictEqual(of(trace, "memory"), ["memory:begin", ...Array(3).fill("memory:advance"), "memory:finish"]);
        assert.deepStrictEqual([out.diskResult.step, out.diskResult.status, out.diskResult.error], ["disk", "partial", "StepCrashed"]);
        assert.strictEqual(out.outcome, "contained");
    });

    it("a branch whose function cannot even start or finish still yields a failed record, and containment runs", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { memoryBegin: "no SSM client", diskFinish: "payload too large" });
        assert.deepStrictEqual(of(trace, "memory"), ["memory:begin"]);
        for (const record of [out.acquisition[0], out.diskResult]) {
            assert.strictEqual(record.status, "failed");
            assert.match(record.error, /the branch's function failed/);
            assert.strictEqual(record.detail.branchError.Error, "StepCrashed");
            assert.deepStrictEqual(record.actions, []);
        }
        assert.deepStrictEqual(main(trace), ["isolate", "triage", "record", "notify", "contain", "close"]);
        assert.strictEqual(out.outcome, "contained");
    });

    it("a disk branch that cannot start leaves a failed record and no copy chain", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { diskBegin: "CreateSnapshots refused" });
        assert.deepStrictEqual(of(trace, "disk"), ["disk:begin"]);
        assert.deepStrictEqual(out.acquisition.map((a: any) => [a.step, a.status]), [["memory", "succeeded"], ["disk", "failed"]]);
        assert.strictEqual(out.outcome, "contained");
    });

    it("contain: containment first, then triage, no isolation or acquisition", async () => {
        const trace: string[] = [];
        await run({ ...INPUT, mode: "contain" }, trace);
        assert.deepStrictEqual(trace, ["contain", "triage", "close"]);
    });

    it("still contains when isolation and triage crash, and keeps the error on the case", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { triage: "describe failed", isolate: "throttled" });
        assert.deepStrictEqual(main(trace), ["isolate", "triage", "record", "notify", "contain", "close"]);
        assert.strictEqual(out.outcome, "contained");
        assert.strictEqual(out.lastError.Error, "StepCrashed");
    });

    it("retries a crashed containment, then ends FAILED after recording the case", async () => {
        const trace: string[] = [];
        await assert.rejects(run(INPUT, trace, { contain: "access denied" }), /without the instance contained/);
        assert.deepStrictEqual(main(trace), ["isolate", "triage", "record", "notify", "contain", "contain", "contain", "contain", "close"]);
    });

    it("ends FAILED when the final record cannot be written", async () => {
        const trace: string[] = [];
        await assert.rejects(run(INPUT, trace, { close: "s3 down" }), /final case record could not be written/);
    });
});
