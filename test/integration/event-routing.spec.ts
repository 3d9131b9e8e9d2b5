import * as assert from "assert";
import { CreateEventBusCommand, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { casePatterns, guardDutyPattern, ocsfFindingsPattern, tagChangePattern } from "../../components/security/eventPatterns";
import { clientsFor } from "../../emulator/aws/aws-clients";
import { MEMBER, SECURITY, useMoto } from "../support/moto";

const REGION = "eu-west-1";

/** A "Tag Change on Resource" event as EventBridge emits it for an instance (moto emits none itself). */
function tagEvent(overrides: { keys?: string[]; service?: string; type?: string; source?: string; value?: string } = {}) {
    return {
        Source: overrides.source ?? "aws.tag",
        DetailType: "Tag Change on Resource",
        Resources: [`arn:aws:ec2:${REGION}:${MEMBER}:instance/i-0123456789abcdef0`],
        Detail: JSON.stringify({
            "changed-tag-keys": overrides.keys ?? ["SecurityIncidentStatus"],
            service: overrides.service ?? "ec2",
            "resource-type": overrides.type ?? "instance",
            version: 7,
            tags: { SecurityIncidentStatus: overrides.value ?? "Analyze", Name: "web-1" },
        }),
    };
}

describe("event routing: member rule → engine bus → opener (patterns taken from the components)", function () {
    const moto = useMoto();
    let queueUrl: string;
    let member: ReturnType<typeof clientsFor>;
    let security: ReturnType<typeof clientsFor>;

    before(async () => {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER, REGION);
        security = clientsFor(moto().endpoint, SECURITY, REGION);
        // Security account: the engine bus, whose rules use the same patterns; SQS stands in for the opener
        // (moto cannot deliver to Lambda targets).
        const bus = await security.events.send(new CreateEventBusCommand({ Name: "ir-forensics" }));
        const queue = await security.sqs.send(new CreateQueueCommand({ QueueName: "opener" }));
        queueUrl = queue.QueueUrl!;
        const queueArn = (await security.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn;
        for (const [name, pattern] of Object.entries(casePatterns(7))) {
            await security.events.send(new PutRuleCommand({ Name: `ir-forensics-${name}`, EventBusName: "ir-forensics", EventPattern: JSON.stringify(pattern) }));
            await security.events.send(new PutTargetsCommand({ Rule: `ir-forensics-${name}`, EventBusName: "ir-forensics", Targets: [{ Id: "opener", Arn: queueArn }] }));
            // Member account: the forwarding rule on its default bus, targeting the engine bus.
            await member.events.send(new PutRuleCommand({ Name: `ir-forensics-${name}`, EventPattern: JSON.stringify(pattern) }));
            await member.events.send(new PutTargetsCommand({ Rule: `ir-forensics-${name}`, Targets: [{ Id: "engine", Arn: bus.EventBusArn }] }));
        }
    });

    async function delivered(): Promise<any[]> {
        const out: any[] = [];
        for (;;) {
            const got = await security.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
            if (!got.Messages?.length) {
                return out;
            }
            out.push(...got.Messages.map((m) => JSON.parse(m.Body!)));
        }
    }

    it("forwards a SecurityIncidentStatus change on an instance, whatever its value, and nothing else", async () => {
        const entries = [
            tagEvent(),
            tagEvent({ value: "analyze" }),
            tagEvent({ value: "Whatever" }),
            tagEvent({ keys: ["Name"] }),
            tagEvent({ keys: ["Owner", "CostCenter"] }),
            tagEvent({ type: "volume" }),
            tagEvent({ service: "rds" }),
            tagEvent({ source: "custom.tag" }),
        ];
        const put = await member.events.send(new PutEventsCommand({ Entries: entries }));
        assert.strictEqual(put.FailedEntryCount, 0);
        const events = await delivered();
        assert.deepStrictEqual(events.map((e) => e.detail.tags.SecurityIncidentStatus).sort(), ["Analyze", "Whatever", "analyze"]);
        for (const e of events) {
            assert.deepStrictEqual(e.detail["changed-tag-keys"], ["SecurityIncidentStatus"]);
        }
    });

    it("forwards GuardDuty instance findings at or above the threshold only", async () => {
        const finding = (severity: number, resourceType = "Instance") => ({
            Source: "aws.guardduty",
            DetailType: "GuardDuty Finding",
            Detail: JSON.stringify({ severity, accountId: MEMBER, region: REGION, resource: { resourceType, instanceDetails: { instanceId: "i-0123456789abcdef0" } } }),
        });
        await member.events.send(new PutEventsCommand({ Entries: [finding(8), finding(7), finding(6.9), finding(8, "AccessKey")] }));
        const events = await delivered();
        assert.deepStrictEqual(events.map((e) => e.detail.severity).sort(), [7, 8]);
    });

    it("uses the patterns the stacks deploy", () => {
        assert.deepStrictEqual(casePatterns(7), { "tag-change": tagChangePattern(), guardduty: guardDutyPattern(7), "securityhub-findings": ocsfFindingsPattern(7) });
        assert.deepStrictEqual(Object.keys(casePatterns()), ["tag-change"]);
    });
});
