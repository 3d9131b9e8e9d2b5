/**
 * Security Hub custom actions tag the findings' EC2 instances through the member client factory, each in
 * its own account and region (moto, member account, two regions).
 */
import * as assert from "assert";
import { DescribeTagsCommand, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { MemberClientFactory } from "../../functions/shared/aws";
import { tagFromFinding } from "../../functions/response/securityHub";
import { InstanceRef, STATUS_TAG } from "../../functions/shared/types";
import { clientsFor, DEFAULT_REGION } from "../../emulator/aws/aws-clients";
import { captureLogs } from "../support/engine";
import { customActionEvent, instanceArn } from "../support/events";
import { MEMBER, useMoto } from "../support/moto";

const ACTIONS = { analyzeId: "IrfAnalyze", containId: "IrfContain" };
const OTHER_REGION = "us-east-1";
const AMI = "ami-04681a1dbd79675a5";
const NOT_A_MEMBER = "123456789012";

describe("tagFromFinding: Security Hub custom actions tag instances in their own account and region", function () {
    const moto = useMoto();
    const factoryCalls: { instance: InstanceRef; session: string }[] = [];
    const made: ReturnType<typeof clientsFor>[] = [];
    let logs: ReturnType<typeof captureLogs>;

    /** Member clients on moto; an account outside the organization has no responder role to assume. */
    const member: MemberClientFactory = async (instance, session) => {
        factoryCalls.push({ instance, session });
        if (instance.accountId === NOT_A_MEMBER) {
            throw new Error(`AccessDenied: cannot assume the responder role in ${instance.accountId}`);
        }
        made.push(clientsFor(moto().endpoint, instance.accountId, instance.region));
        return made[made.length - 1];
    };

    before(async function () {
        await moto().reset();
        logs = captureLogs();
    });

    after(function () {
        logs?.restore();
        made.forEach((clients) => Object.values(clients).forEach((c) => c.destroy()));
    });

    beforeEach(function () {
        factoryCalls.length = 0;
    });

    async function launch(region: string): Promise<InstanceRef> {
        const { ec2 } = clientsFor(moto().endpoint, MEMBER, region);
        const out = await ec2.send(new RunInstancesCommand({ ImageId: AMI, InstanceType: "t3.micro", MinCount: 1, MaxCount: 1 }));
        ec2.destroy();
        return { accountId: MEMBER, region, instanceId: out.Instances![0].InstanceId! };
    }

    async function statusTag(ref: InstanceRef): Promise<string | undefined> {
        const { ec2 } = clientsFor(moto().endpoint, ref.accountId, ref.region);
        const { Tags = [] } = await ec2.send(new DescribeTagsCommand({
            Filters: [{ Name: "resource-id", Values: [ref.instanceId] }, { Name: "key", Values: [STATUS_TAG] }],
        }));
        ec2.destroy();
        return Tags[0]?.Value;
    }

    const ec2Resource = (ref: InstanceRef) => ({ Type: "AwsEc2Instance", Id: instanceArn(ref) });

    it("analyze: every EC2 instance of every finding is tagged Analyze once, in its region; other resources are skipped and listed", async function () {
        const here = await launch(DEFAULT_REGION);
        const there = await launch(OTHER_REGION);
        const event = customActionEvent(ACTIONS.analyzeId, [
            [ec2Resource(here), { Type: "AwsS3Bucket", Id: "arn:aws:s3:::some-bucket" }, ec2Resource(there)],
            [ec2Resource(here), { Type: "AwsEc2SecurityGroup", Id: "arn:aws:ec2:eu-west-1:444455556666:security-group/sg-1" }],
        ]);
        const result = await tagFromFinding(event, { member, actions: ACTIONS });
        assert.strictEqual(result.outcome, "tagged");
        assert.strictEqual(result.requested, "analyze");
        assert.strictEqual(await statusTag(here), "Analyze");
        assert.strictEqual(await statusTag(there), "Analyze");
        assert.deepStrictEqual(factoryCalls.map((c) => c.instance), [here, there]);
        assert.ok(factoryCalls.every((c) => c.session === `securityhub-${event.id}`), "the session name ties member CloudTrail to the event");
        assert.deepStrictEqual(result.results.map((r) => [r.resourceType, r.status]), [
            ["AwsEc2Instance", "tagged"], ["AwsEc2Instance", "tagged"], ["AwsS3Bucket", "skipped"], ["AwsEc2SecurityGroup", "skipped"],
        ]);
    });

    it("contain: tags Contain", async function () {
        const ref = await launch(DEFAULT_REGION);
        const result = await tagFromFinding(customActionEvent(ACTIONS.containId, [[ec2Resource(ref)]]), { member, actions: ACTIONS });
        assert.strictEqual(result.requested, "contain");
        assert.strictEqual(await statusTag(ref), "Contain");
    });

    it("one instance that cannot be tagged does not stop the others", async function () {
        const ref = await launch(DEFAULT_REGION);
        const foreign = { accountId: NOT_A_MEMBER, region: DEFAULT_REGION, instanceId: "i-0123456789abcdef0" };
        const result = await tagFromFinding(customActionEvent(ACTIONS.analyzeId, [[ec2Resource(foreign)], [ec2Resource(ref)]]), { member, actions: ACTIONS });
        assert.strictEqual(result.outcome, "partial");
        assert.deepStrictEqual(result.results.map((r) => r.status), ["failed", "tagged"]);
        assert.match(result.results[0].reason ?? "", /AccessDenied/);
        assert.strictEqual(await statusTag(ref), "Analyze");
    });

    it("an EC2 resource whose Id is not a well-formed instance ARN is skipped with the reason", async function () {
        const result = await tagFromFinding(customActionEvent(ACTIONS.analyzeId, [[
            { Type: "AwsEc2Instance", Id: "i-0123456789abcdef0" },
            { Type: "AwsEc2Instance", Id: "arn:aws:ec2:eu-west-1:444455556666:instance/i-nothex" },
        ]]), { member, actions: ACTIONS });
        assert.strictEqual(result.outcome, "no-instances");
        assert.deepStrictEqual(result.results.map((r) => r.status), ["skipped", "skipped"]);
        assert.match(result.results[1].reason ?? "", /malformed instance id/);
        assert.strictEqual(factoryCalls.length, 0);
    });

    for (const [what, event] of [
        ["not an object", "tag it"],
        ["another event type", { "source": "aws.tag", "detail-type": "Tag Change on Resource" }],
        ["an unknown custom action", customActionEvent("SomeoneElsesAction", [])],
        ["no findings list", { ...customActionEvent(ACTIONS.analyzeId, []), detail: {} }],
    ] as [string, unknown][]) {
        it(`${what}: rejected, nothing tagged`, async function () {
            const result = await tagFromFinding(event, { member, actions: ACTIONS });
            assert.strictEqual(result.outcome, "rejected");
            assert.deepStrictEqual(result.results, []);
            assert.strictEqual(factoryCalls.length, 0);
        });
    }
});
