/**
 * The case opener against moto's DynamoDB, Step Functions (really executed) and SNS → SQS in the
 * security account: one running case per instance, contain beside analyze, take-overs of stale claims,
 * and what is reported for events that open nothing.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import { DescribeExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { OpenDeps, OpenResult, openCase } from "../../functions/cases";
import { claimInstance, endCase, getInstance, markContained, setExecution } from "../../functions/registry";
import { InstanceRef } from "../../functions/types";
import { DEFAULT_REGION } from "../../scripts/aws-clients";
import { captureLogs, countCalls, createEngine, Engine } from "../support/engine";
import { EVENT_TIME, guardDutyEvent, instanceId, tagEvent } from "../support/events";
import { MEMBER, SECURITY, useMoto } from "../support/moto";

describe("openCase: one case per instance, against moto", function () {
    const moto = useMoto();
    const run = randomBytes(4).toString("hex");
    let engine: Engine;
    // Each openCase reads the clock once: every call gets its own second, hence its own case id.
    let time = Date.parse("2026-11-23T10:00:00Z");
    const clock = () => new Date(time += 1000);

    let logs: ReturnType<typeof captureLogs>;

    before("reset moto and create the engine's table, topic, queue and state machine", async function () {
        await moto().reset();
        engine = await createEngine(moto().endpoint, run);
        logs = captureLogs();
    });

    after(async function () {
        logs?.restore();
        await engine?.close();
    });

    beforeEach("drop notifications left by the previous test", async function () {
        await engine.published();
    });

    function deps(extra: Partial<OpenDeps> = {}): OpenDeps {
        const { dynamodb, sfn, sns } = engine.clients;
        return { dynamodb, sfn, sns, settings: engine.settings, memberAccounts: [MEMBER], clock, ...extra };
    }

    function newInstance(): InstanceRef {
        return { accountId: MEMBER, region: DEFAULT_REGION, instanceId: instanceId() };
    }

    function casePrefix(ref: InstanceRef): string {
        return `${ref.accountId}-${ref.region}-${ref.instanceId}-`;
    }

    function registry(ref: InstanceRef) {
        return getInstance(engine.clients.dynamodb, engine.settings.casesTable, ref);
    }

    async function opened(event: unknown, extra: Partial<OpenDeps> = {}): Promise<Required<Pick<OpenResult, "caseId" | "executionArn">>> {
        const result = await openCase(event, deps(extra));
        assert.strictEqual(result.outcome, "opened", JSON.stringify(result));
        return { caseId: result.caseId!, executionArn: result.executionArn! };
    }

    async function execution(arn: string) {
        const out = await engine.clients.sfn.send(new DescribeExecutionCommand({ executionArn: arn }));
        return { name: out.name, status: out.status, input: JSON.parse(out.input ?? "{}") };
    }

    /** Asserts exactly one notification, of `kind`, and returns it. */
    async function onlyNotification(kind: string) {
        const published = await engine.published();
        assert.deepStrictEqual(published.map((p) => p.kind), [kind], JSON.stringify(published, null, 2));
        return published[0];
    }

    it("first Analyze: case id from the clock, execution named by it with the CaseInput, registry claim, case-opened — in 4 AWS calls", async function () {
        const ref = newInstance();
        const event = tagEvent(ref, "Analyze");
        const counter = countCalls(engine.clients.dynamodb, engine.clients.sfn, engine.clients.sns);
        let result: OpenResult;
        try {
            result = await openCase(event, deps({ clock: () => new Date("2026-11-23T10:15:30.250Z") }));
        } finally {
            counter.stop();
        }
        process.stdout.write(`      openCase common path: ${counter.calls.length} AWS calls: ${counter.calls.join(", ")}\n`);
        assert.deepStrictEqual(counter.calls.slice(0, 2), ["PutItem", "StartExecution"]);
        assert.deepStrictEqual([...counter.calls.slice(2)].sort(), ["Publish", "UpdateItem"]);

        const caseId = `${MEMBER}-${DEFAULT_REGION}-${ref.instanceId}-20261123T101530Z`;
        assert.strictEqual(result.outcome, "opened");
        assert.strictEqual(result.caseId, caseId);
        const exec = await execution(result.executionArn!);
        assert.strictEqual(exec.name, caseId);
        assert.strictEqual(exec.status, "RUNNING");
        assert.deepStrictEqual(exec.input, {
            caseId,
            mode: "analyze",
            instance: ref,
            trigger: { eventId: event.id, eventTime: EVENT_TIME, source: "tag", requested: "analyze", rawValue: "Analyze" },
            openedAt: "2026-11-23T10:15:30.250Z",
        });
        const item = await registry(ref);
        assert.strictEqual(item?.status, "running");
        assert.strictEqual(item?.caseId, caseId);
        assert.strictEqual(item?.mode, "analyze");
        assert.strictEqual(item?.executionArn, result.executionArn);
        const note = await onlyNotification("case-opened");
        assert.strictEqual(note.message.caseId, caseId);
        assert.strictEqual(note.message.detail?.executionArn, result.executionArn);
        assert.match(note.subject, new RegExp(ref.instanceId));
    });

    it("a repeated Analyze while the case runs is a duplicate naming the running case, and starts nothing", async function () {
        const ref = newInstance();
        const first = await opened(tagEvent(ref, "Analyze"));
        await engine.published();
        const again = await openCase(tagEvent(ref, "Analyze"), deps());
        assert.strictEqual(again.outcome, "duplicate");
        assert.strictEqual(again.caseId, first.caseId);
        assert.strictEqual(again.executionArn, first.executionArn);
        assert.strictEqual((await engine.executions(casePrefix(ref))).length, 1);
        const note = await onlyNotification("duplicate");
        assert.strictEqual(note.message.caseId, first.caseId);
        assert.match(note.message.summary, new RegExp(first.caseId));
        assert.strictEqual((await registry(ref))?.caseId, first.caseId);
    });

    for (const value of ["analyze", "ANALYZE", " Analyze "]) {
        it(`tag value ${JSON.stringify(value)} opens an analyze case (case-insensitive)`, async function () {
            const ref = newInstance();
            const { executionArn } = await opened(tagEvent(ref, value));
            const exec = await execution(executionArn);
            assert.strictEqual(exec.input.mode, "analyze");
            assert.strictEqual(exec.input.trigger.rawValue, value);
        });
    }

    it("another tag value is ignored and reported with the raw value; nothing is claimed or started", async function () {
        const ref = newInstance();
        const result = await openCase(tagEvent(ref, "Investigate"), deps());
        assert.strictEqual(result.outcome, "ignored");
        assert.match(result.reason ?? "", /Investigate/);
        const note = await onlyNotification("ignored");
        assert.strictEqual(note.message.detail?.rawValue, "Investigate");
        assert.deepStrictEqual(note.message.instance, ref);
        assert.strictEqual(await registry(ref), undefined);
        assert.strictEqual((await engine.executions(casePrefix(ref))).length, 0);
    });

    it("a removed tag is ignored without a notification", async function () {
        const ref = newInstance();
        const result = await openCase(tagEvent(ref, undefined), deps());
        assert.strictEqual(result.outcome, "ignored");
        assert.deepStrictEqual(await engine.published(), []);
    });

    it("events from a foreign account or with a malformed instance are rejected: no notification, no claim, no execution", async function () {
        const foreign = { ...newInstance(), accountId: "123456789012" };
        const malformed = { ...newInstance(), instanceId: "i-XYZ" };
        const before = logs.lines.length;
        for (const event of [tagEvent(foreign, "Analyze"), tagEvent(malformed, "Analyze"), { source: "aws.ec2" }, "Analyze"]) {
            const result = await openCase(event, deps());
            assert.strictEqual(result.outcome, "rejected", JSON.stringify(result));
        }
        const warnings = logs.lines.slice(before);
        assert.deepStrictEqual(warnings.map((l) => [l.level, l.json?.outcome]), Array(4).fill(["warn", "rejected"]));
        assert.match(String(warnings[0].json?.reason), /123456789012 is not a member account/);
        assert.deepStrictEqual(await engine.published(), []);
        assert.strictEqual(await registry(foreign), undefined);
        assert.strictEqual((await engine.executions(casePrefix(foreign))).length, 0);
    });

    it("Analyze after the case ended opens a new case", async function () {
        const ref = newInstance();
        const first = await opened(tagEvent(ref, "Analyze"));
        assert.ok(await endCase(engine.clients.dynamodb, engine.settings.casesTable, ref, first.caseId, "uncontained"));
        const second = await opened(tagEvent(ref, "Analyze"));
        assert.notStrictEqual(second.caseId, first.caseId);
        assert.strictEqual((await registry(ref))?.caseId, second.caseId);
        assert.strictEqual((await engine.executions(casePrefix(ref))).length, 2);
    });

    it("the same case id twice (same second) is a duplicate: Step Functions refuses the name", async function () {
        const ref = newInstance();
        const fixed = { clock: () => new Date("2026-11-23T11:00:00Z") };
        const first = await opened(tagEvent(ref, "Analyze"), fixed);
        await endCase(engine.clients.dynamodb, engine.settings.casesTable, ref, first.caseId, "uncontained");
        await engine.published();
        const again = await openCase(tagEvent(ref, "Analyze"), deps(fixed));
        assert.strictEqual(again.outcome, "duplicate", JSON.stringify(again));
        assert.strictEqual(again.caseId, first.caseId);
        assert.strictEqual((await engine.executions(casePrefix(ref))).length, 1);
        await onlyNotification("duplicate");
    });

    it("Contain on a contained instance is a no-op without notification (the engine's own Contain tag)", async function () {
        const ref = newInstance();
        await markContained(engine.clients.dynamodb, engine.settings.casesTable, ref, "earlier-case");
        const result = await openCase(tagEvent(ref, "Contain"), deps());
        assert.strictEqual(result.outcome, "already-contained");
        assert.strictEqual(result.caseId, "earlier-case");
        assert.ok(logs.lines.some((l) => l.json?.outcome === "already-contained" && (l.json.instance as InstanceRef)?.instanceId === ref.instanceId),
            "the no-op is logged");
        assert.deepStrictEqual(await engine.published(), []);
        assert.strictEqual((await engine.executions(casePrefix(ref))).length, 0);
        assert.strictEqual((await registry(ref))?.status, "contained");
    });

    it("Contain while an analysis runs starts a contain-mode case beside it and leaves the analysis's claim alone", async function () {
        const ref = newInstance();
        const analysis = await opened(tagEvent(ref, "Analyze"));
        await engine.published();
        const contain = await opened(tagEvent(ref, "contain"));
        assert.notStrictEqual(contain.caseId, analysis.caseId);
        const exec = await execution(contain.executionArn);
        assert.strictEqual(exec.name, contain.caseId);
        assert.strictEqual(exec.input.mode, "contain");
        const item = await registry(ref);
        assert.strictEqual(item?.caseId, analysis.caseId);
        assert.strictEqual(item?.executionArn, analysis.executionArn);
        assert.strictEqual((await engine.executions(casePrefix(ref))).filter((e) => e.status === "RUNNING").length, 2);
        const note = await onlyNotification("case-opened");
        assert.strictEqual(note.message.detail?.mode, "contain");
    });

    it("Contain on an idle instance claims it; a second Contain while that case runs is a duplicate", async function () {
        const ref = newInstance();
        const contain = await opened(tagEvent(ref, "Contain"));
        const item = await registry(ref);
        assert.strictEqual(item?.caseId, contain.caseId);
        assert.strictEqual(item?.mode, "contain");
        assert.strictEqual(item?.executionArn, contain.executionArn);
        const again = await openCase(tagEvent(ref, "Contain"), deps());
        assert.strictEqual(again.outcome, "duplicate");
        assert.strictEqual(again.caseId, contain.caseId);
        assert.strictEqual((await engine.executions(casePrefix(ref))).length, 1);
    });

    it("a running claim whose execution has ended is taken over by the next Analyze", async function () {
        const ref = newInstance();
        const stale = await opened(tagEvent(ref, "Analyze"));
        // The execution ends without closing the case (aborted by hand, or a close that never ran).
        await engine.clients.sfn.send(new StopExecutionCommand({ executionArn: stale.executionArn }));
        assert.strictEqual((await execution(stale.executionArn)).status, "ABORTED");
        assert.strictEqual((await registry(ref))?.status, "running");
        const next = await opened(tagEvent(ref, "Analyze"));
        const item = await registry(ref);
        assert.strictEqual(item?.caseId, next.caseId);
        assert.strictEqual(item?.executionArn, next.executionArn);
    });

    it("a running claim naming an execution that does not exist is taken over", async function () {
        const ref = newInstance();
        const ghost = `${ref.accountId}-${ref.region}-${ref.instanceId}-20260101T000000Z`;
        const { casesTable, stateMachineArn } = engine.settings;
        await claimInstance(engine.clients.dynamodb, casesTable, ref, { caseId: ghost, mode: "analyze", openedAt: clock().toISOString() });
        await setExecution(engine.clients.dynamodb, casesTable, ref, ghost, `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${ghost}`);
        const next = await opened(tagEvent(ref, "Analyze"));
        assert.strictEqual((await registry(ref))?.caseId, next.caseId);
    });

    it("a claim without execution is left to its opener for the grace period, then taken over", async function () {
        const ref = newInstance();
        const pending = `${ref.accountId}-${ref.region}-${ref.instanceId}-20260101T000000Z`;
        await claimInstance(engine.clients.dynamodb, engine.settings.casesTable, ref, { caseId: pending, mode: "analyze", openedAt: clock().toISOString() });
        const early = await openCase(tagEvent(ref, "Analyze"), deps());
        assert.strictEqual(early.outcome, "duplicate", "an opener between PutItem and StartExecution must not be overtaken");
        assert.strictEqual(early.caseId, pending);
        time += 5 * 60_000;
        const late = await opened(tagEvent(ref, "Analyze"));
        assert.strictEqual((await registry(ref))?.caseId, late.caseId);
    });

    describe("GuardDuty findings", function () {
        it("a finding at or above the threshold opens an analyze case carrying the finding", async function () {
            const ref = newInstance();
            const event = guardDutyEvent(ref, 8);
            const { executionArn } = await opened(event, { guardDutyMinSeverity: 7 });
            const exec = await execution(executionArn);
            assert.strictEqual(exec.input.mode, "analyze");
            assert.strictEqual(exec.input.trigger.source, "guardduty");
            assert.deepStrictEqual(exec.input.trigger.finding, event.detail);
            assert.deepStrictEqual(exec.input.instance, ref);
        });

        it("a finding below the threshold, or with GuardDuty triggers off, opens nothing and notifies nobody", async function () {
            const ref = newInstance();
            for (const extra of [{ guardDutyMinSeverity: 7 }, {}]) {
                const result = await openCase(guardDutyEvent(ref, extra.guardDutyMinSeverity ? 6.9 : 9), deps(extra));
                assert.strictEqual(result.outcome, "ignored", JSON.stringify(result));
            }
            assert.deepStrictEqual(await engine.published(), []);
            assert.strictEqual((await engine.executions(casePrefix(ref))).length, 0);
        });
    });

    it("the state machine lives in the security account", function () {
        assert.match(engine.settings.stateMachineArn, new RegExp(`:${SECURITY}:stateMachine:`));
    });
});
