import * as assert from "assert";
import aslValidator from "asl-validator";
import { StateMachine } from "aws-local-stepfunctions";
import { incidentDefinition, IncidentFunctions } from "../../components/incidentDefinition";

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

type Failures = Partial<Record<keyof IncidentFunctions | "memoryBegin" | "memoryAdvance" | "diskAdvance" | "diskFinish", string>>;

/**
 * An acquisition branch's function: `begin` returns a document that waits, each `advance` counts a round
 * until `rounds`, `finish` returns the branch's record. `fail` names the actions that throw.
 */
function branch(step: "memory" | "disk", rounds: number, trace: string[], fail: Failures) {
    const crash = (what: keyof Failures) => {
        if (fail[what]) {
            throw Object.assign(new Error(fail[what]), { name: "StepCrashed" });
        }
    };
    const key = (action: string) => `${step}${action}` as keyof Failures;
    return {
        begin: async (input: any) => {
            trace.push(`${step}:begin`);
            crash(key("Begin"));
            assert.strictEqual(input.action, "begin");
            return { caseId: input.case.caseId, rounds: 0, waiting: true, done: false };
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
            state.contained = true;
        }
        if (name === "close") {
            state.outcome = input.contained ? "contained" : "uncontained";
        }
        return state;
    };
    return {
        Triage: step("triage"),
        Isolate: step("isolate"),
        Record: step("record"),
        Contain: step("contain"),
        Close: step("close"),
        NotifyAcquisition: async () => {
            trace.push("notify");
            return {};
        },
        ...Object.fromEntries((["memory", "disk"] as const).flatMap((step) => {
            const fns = branch(step, step === "memory" ? 3 : 4, trace, fail);
            const prefix = step === "memory" ? "Memory" : "Disk";
            return [[`${prefix}Begin`, fns.begin], [`${prefix}Advance`, fns.advance], [`${prefix}Finish`, fns.finish]];
        })),
    };
}

async function run(input: object, trace: string[], fail: Failures = {}) {
    const machine = new StateMachine(definition as any, { validationOptions: { checkArn: false } });
    const execution = machine.run(input as any, {
        overrides: { taskResourceLocalHandlers: handlers(trace, fail), waitTimeOverrides: { MemoryWait: 0, DiskWait: 0 } },
        // aws-local-stepfunctions has no execution ARN of its own: give the context object one.
        context: {
            Execution: { Id: `arn:aws:states:eu-west-1:222233334444:execution:ir-forensics-incident:${INPUT.caseId}` },
            State: { EnteredTime: "2026-11-23T13:45:13Z" },
        } as any,
    });
    return execution.result;
}

describe("incident state machine definition", () => {
    it("is valid Amazon States Language", () => {
        const { isValid, errors } = aslValidator(definition);
        assert.deepStrictEqual(errors, []);
        assert.strictEqual(isValid, true);
    });

    it("catches every task's failure and retries only Lambda service errors", () => {
        for (const [name, state] of Object.entries(states).filter(([, s]) => s.Type === "Task")) {
            assert.ok(state.Catch?.some((c: any) => c.ErrorEquals.includes("States.ALL")), `${name} does not catch`);
            for (const retry of state.Retry ?? []) {
                assert.ok(retry.ErrorEquals.every((e: string) => e.startsWith("Lambda.")), `${name} retries ${retry.ErrorEquals}`);
            }
        }
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

    it("runs memory and disk acquisition as parallel branches that cannot fail", () => {
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

    it("analyze: triage, isolation, record, acquisition, containment, close, in that order", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace);
        assert.deepStrictEqual(main(trace), ["triage", "isolate", "record", "notify", "contain", "close"]);
        // Each branch: begin, rounds (with waits in between) until done, finish; both before notify.
        assert.deepStrictEqual(of(trace, "memory"), ["memory:begin", ...Array(3).fill("memory:advance"), "memory:finish"]);
        assert.deepStrictEqual(of(trace, "disk"), ["disk:begin", ...Array(4).fill("disk:advance"), "disk:finish"]);
        assert.ok(trace.lastIndexOf("memory:finish") < trace.indexOf("notify") && trace.lastIndexOf("disk:finish") < trace.indexOf("notify"));
        assert.strictEqual(out.outcome, "contained");
        assert.deepStrictEqual(out.acquisition.map((a: any) => [a.step, a.status, a.rounds]), [["memory", "succeeded", 3], ["disk", "succeeded", 4]]);
        assert.match(out.executionArn, /.+/);
    });

    it("a crashed acquisition round ends that branch with what it has; the other branch and containment go on", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { diskAdvance: "snapshot API down" });
        assert.deepStrictEqual(of(trace, "disk"), ["disk:begin", "disk:advance", "disk:finish"]);
        assert.deepStrictEqual(of(trace, "memory"), ["memory:begin", ...Array(3).fill("memory:advance"), "memory:finish"]);
        assert.deepStrictEqual(out.acquisition.map((a: any) => [a.step, a.status]), [["memory", "succeeded"], ["disk", "partial"]]);
        assert.strictEqual(out.acquisition[1].error, "StepCrashed");
        assert.strictEqual(out.outcome, "contained");
    });

    it("a branch whose function cannot even start or finish still yields a failed record, and containment runs", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { memoryBegin: "no SSM client", diskFinish: "payload too large" });
        assert.deepStrictEqual(of(trace, "memory"), ["memory:begin"]);
        assert.deepStrictEqual(out.acquisition.map((a: any) => [a.step, a.status]), [["memory", "failed"], ["disk", "failed"]]);
        for (const record of out.acquisition) {
            assert.match(record.error, /the branch's function failed/);
            assert.strictEqual(record.detail.branchError.Error, "StepCrashed");
            assert.deepStrictEqual(record.actions, []);
        }
        assert.deepStrictEqual(main(trace), ["triage", "isolate", "record", "notify", "contain", "close"]);
        assert.strictEqual(out.outcome, "contained");
    });

    it("contain: triage then containment, no isolation or acquisition", async () => {
        const trace: string[] = [];
        await run({ ...INPUT, mode: "contain" }, trace);
        assert.deepStrictEqual(trace, ["triage", "contain", "close"]);
    });

    it("still contains when triage and isolation crash, and keeps the error on the case", async () => {
        const trace: string[] = [];
        const out: any = await run(INPUT, trace, { triage: "describe failed", isolate: "throttled" });
        assert.deepStrictEqual(main(trace), ["triage", "isolate", "record", "notify", "contain", "close"]);
        assert.strictEqual(out.outcome, "contained");
        assert.strictEqual(out.lastError.Error, "StepCrashed");
        assert.match(out.lastError.Cause, /throttled/);
    });

    it("ends FAILED when containment crashed, after recording the case", async () => {
        const trace: string[] = [];
        await assert.rejects(run(INPUT, trace, { contain: "access denied" }), /without the instance contained/);
        assert.deepStrictEqual(main(trace), ["triage", "isolate", "record", "notify", "contain", "close"]);
    });

    it("ends FAILED when the final record cannot be written", async () => {
        const trace: string[] = [];
        await assert.rejects(run(INPUT, trace, { close: "s3 down" }), /final case record could not be written/);
    });
});
