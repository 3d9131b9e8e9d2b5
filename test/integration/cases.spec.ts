/**
 * The case opener against moto's DynamoDB, Step Functions (really executed) and SNS → SQS in the
 * security account: one running case per instance, contain beside analyze, take-overs of stale claims,
 * and what is reported for events that open nothing.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import {
    AssociateIamInstanceProfileCommand, CreateSecurityGroupCommand, CreateTagsCommand, DescribeSecurityGroupsCommand, ModifyNetworkInterfaceAttributeCommand,
    RevokeSecurityGroupEgressCommand, RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { CreateInstanceProfileCommand, CreateRoleCommand } from "@aws-sdk/client-iam";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { DescribeExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { forwardAlarm } from "../../functions/response/alarm";
import { OpenDeps, OpenResult, executionArnFor, openCase } from "../../functions/response/cases";
import { claimInstance, endCase, getInstance, instanceKey, markContained, setExecution } from "../../functions/response/registry";
import { MemberClients } from "../../functions/shared/aws";
import { addRevokedInstance, removeRevokedInstance } from "../../functions/response/revocation";
import { GROUP_NAMES } from "../../functions/response/securityGroups";
import { instanceArn } from "../../functions/shared/steps";
import { CASE_TAG, InstanceRef, STATUS_CONTAIN, STATUS_TAG } from "../../functions/shared/types";
import { DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
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

    it("first Analyze: case id from the clock, execution named by it with the CaseInput, registry claim, case-opened — in 3 AWS calls", async function () {
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
        // No UpdateItem: the execution's ARN follows from the state machine and the case id.
        assert.deepStrictEqual(counter.calls, ["PutItem", "StartExecution", "Publish"]);

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
        assert.strictEqual(executionArnFor(engine.settings.stateMachineArn, item?.caseId ?? ""), result.executionArn);
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
        assert.strictEqual(executionArnFor(engine.settings.stateMachineArn, item?.caseId ?? ""), analysis.executionArn);
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
        assert.strictEqual(executionArnFor(engine.settings.stateMachineArn, item?.caseId ?? ""), contain.executionArn);
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
        assert.strictEqual(executionArnFor(engine.settings.stateMachineArn, item?.caseId ?? ""), next.executionArn);
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

    describe("\"contained\" is read from the instance itself", function () {
        let member: ReturnType<typeof clientsFor>;
        const memberClients = async () => member as unknown as MemberClients;

        before(function () {
            member = clientsFor(moto().endpoint, MEMBER);
        });

        /** An instance in the member account; `contained`: in a rule-less contained group, deny-all profile, tagged. */
        async function memberInstance(contained: boolean): Promise<InstanceRef> {
            const { Instances } = await member.ec2.send(new RunInstancesCommand({ ImageId: "ami-04681a1dbd79675a5", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1 }));
            const id = Instances![0].InstanceId!;
            if (contained) {
                const vpcId = Instances![0].VpcId!;
                const { GroupId } = await member.ec2.send(new CreateSecurityGroupCommand({ GroupName: GROUP_NAMES.contained, Description: "contained", VpcId: vpcId }))
                    .catch(async () => ({ GroupId: (await member.ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: "group-name", Values: [GROUP_NAMES.contained] }, { Name: "vpc-id", Values: [vpcId] }] }))).SecurityGroups![0].GroupId }));
                await member.ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] })).catch(() => undefined);
                const eni = Instances![0].NetworkInterfaces![0].NetworkInterfaceId!;
                await member.ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: eni, Groups: [GroupId!] }));
                const profile = engine.settings.member.containedProfileName;
                await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: profile })).catch(() => undefined);
                await member.ec2.send(new AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: { Name: profile } }));
                await member.ec2.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: STATUS_TAG, Value: STATUS_CONTAIN }, { Key: CASE_TAG, Value: "earlier-case" }] }));
            }
            return { accountId: MEMBER, region: DEFAULT_REGION, instanceId: id };
        }

        it("a Contain on an instance the registry calls contained but that was released by hand contains it again", async function () {
            const ref = await memberInstance(false);
            await markContained(engine.clients.dynamodb, engine.settings.casesTable, ref, "earlier-case");
            const result = await openCase(tagEvent(ref, "Contain"), deps({ member: memberClients }));
            assert.strictEqual(result.outcome, "opened", JSON.stringify(result));
            assert.strictEqual((await execution(result.executionArn!)).input.mode, "contain");
        });

        it("a Contain on an instance that still holds containment is a no-op (the engine's own Contain tag)", async function () {
            const ref = await memberInstance(true);
            await markContained(engine.clients.dynamodb, engine.settings.casesTable, ref, "earlier-case");
            const result = await openCase(tagEvent(ref, "Contain"), deps({ member: memberClients }));
            assert.strictEqual(result.outcome, "already-contained", JSON.stringify(result));
            assert.strictEqual((await engine.executions(casePrefix(ref))).length, 0);
        });

        it("the revocation is read from the instance's roles too: lifted by hand, a Contain contains again; pruned once expired, it still holds", async function () {
            const ref = await memberInstance(true);
            const role = `app-${randomBytes(3).toString("hex")}`;
            await member.iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [] }) }));
            const arn = instanceArn(engine.settings.partition, ref);
            await addRevokedInstance(member.iam, role, arn, 0);
            await markContained(engine.clients.dynamodb, engine.settings.casesTable, ref, "earlier-case", [role]);
            assert.deepStrictEqual((await registry(ref))?.revokedRoles, [role]);
            const held = await openCase(tagEvent(ref, "Contain"), deps({ member: memberClients }));
            assert.strictEqual(held.outcome, "already-contained", JSON.stringify(held));

            await removeRevokedInstance(member.iam, role, arn, 0);
            const lifted = await openCase(tagEvent(ref, "Contain"), deps({ member: memberClients }));
            assert.strictEqual(lifted.outcome, "opened", JSON.stringify(lifted));
            assert.strictEqual((await execution(lifted.executionArn!)).input.mode, "contain");

            // Contained 8 h ago: every credential the entry denied has expired, so its absence opens nothing.
            const other = await memberInstance(true);
            await markContained(engine.clients.dynamodb, engine.settings.casesTable, other, "earlier-case", [role]);
            await engine.clients.dynamodb.send(new UpdateItemCommand({
                TableName: engine.settings.casesTable, Key: { instanceKey: { S: instanceKey(other) } },
                UpdateExpression: "SET containedAt = :at", ExpressionAttributeValues: { ":at": { S: new Date(Date.now() - 8 * 3600_000).toISOString() } },
            }));
            const expired = await openCase(tagEvent(other, "Contain"), deps({ member: memberClients }));
            assert.strictEqual(expired.outcome, "already-contained", JSON.stringify(expired));
        });

        it("a new GuardDuty finding on a contained instance is added to its case, and reopens nothing", async function () {
            const ref = await memberInstance(true);
            await markContained(engine.clients.dynamodb, engine.settings.casesTable, ref, "earlier-case");
            const event = guardDutyEvent(ref, 8);
            const added = await openCase(event, deps({ member: memberClients, guardDutyMinSeverity: 7 }));
            assert.strictEqual(added.outcome, "finding-added", JSON.stringify(added));
            assert.strictEqual(added.caseId, "earlier-case");
            assert.deepStrictEqual((await registry(ref))?.addedFindings, [event.detail.id]);
            assert.match((await onlyNotification("duplicate")).message.summary, new RegExp(`${event.detail.id} added to case earlier-case`));
            assert.strictEqual((await engine.executions(casePrefix(ref))).length, 0);
        });
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

        it("updates of one finding never open a second case; a new finding while the case runs is added to it", async function () {
            const ref = newInstance();
            const event = guardDutyEvent(ref, 8);
            const first = await opened(event, { guardDutyMinSeverity: 7 });
            await engine.published();
            // GuardDuty sends the same finding id again as it updates it (count, last seen).
            const update = await openCase({ ...event, id: "update-1", detail: { ...event.detail, updatedAt: "later" } }, deps({ guardDutyMinSeverity: 7 }));
            assert.strictEqual(update.outcome, "duplicate", JSON.stringify(update));
            // Even once the first case has ended.
            await endCase(engine.clients.dynamodb, engine.settings.casesTable, ref, first.caseId, "uncontained");
            const later = await openCase({ ...event, id: "update-2" }, deps({ guardDutyMinSeverity: 7 }));
            assert.strictEqual(later.outcome, "duplicate", JSON.stringify(later));
            assert.strictEqual((await engine.executions(casePrefix(ref))).length, 1);

            const ref2 = newInstance();
            const running = await opened(guardDutyEvent(ref2, 8), { guardDutyMinSeverity: 7 });
            await engine.published();
            const other = guardDutyEvent(ref2, 9);
            const added = await openCase(other, deps({ guardDutyMinSeverity: 7 }));
            assert.strictEqual(added.outcome, "finding-added", JSON.stringify(added));
            assert.strictEqual(added.caseId, running.caseId);
            assert.deepStrictEqual((await registry(ref2))?.addedFindings, [other.detail.id]);
            await onlyNotification("duplicate");
            assert.strictEqual((await engine.executions(casePrefix(ref2))).length, 1);
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

    it("the failed-executions alarm reaches the topic as a 'failed' notification; its idle state does not", async function () {
        // The payload CloudWatch sends a Lambda alarm action (CloudWatch user guide, "Lambda alarm actions").
        const event = {
            source: "aws.cloudwatch", alarmArn: `arn:aws:cloudwatch:${DEFAULT_REGION}:${SECURITY}:alarm:ir-forensics-incident-failures`,
            accountId: SECURITY, time: "2026-11-23T12:36:15.490+0000", region: DEFAULT_REGION,
            alarmData: {
                alarmName: "ir-forensics-incident-failures",
                state: { value: "ALARM", reason: "Threshold Crossed: 1 datapoint [1.0] was >= the threshold (1.0).", timestamp: "2026-11-23T12:36:15.490+0000" },
                previousState: { value: "OK" },
            },
        };
        const deps = { sns: engine.clients.sns, topicArn: engine.settings.topicArn, stateMachineArn: engine.settings.stateMachineArn };
        const sent = await forwardAlarm(event, deps);
        assert.ok(sent.messageId);
        const note = await onlyNotification("failed");
        assert.match(note.message.summary, /FAILED, timed out or were aborted/);
        assert.strictEqual(note.message.detail?.stateMachineArn, engine.settings.stateMachineArn);
        const idle = await forwardAlarm({ ...event, alarmData: { ...event.alarmData, state: { ...event.alarmData.state, value: "INSUFFICIENT_DATA" } } }, deps);
        assert.ok(idle.ignored);
        assert.deepStrictEqual(await engine.published(), []);
    });

    it("the state machine lives in the security account", function () {
        assert.match(engine.settings.stateMachineArn, new RegExp(`:${SECURITY}:stateMachine:`));
    });
});
