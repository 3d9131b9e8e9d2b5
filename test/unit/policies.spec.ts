import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { actionProblem, policyProblems } from "../support/iam";
import { ofType, policyOf, renderStack, RenderedStack } from "../support/pulumi";
import { renderSecurity } from "../support/stacks";

type Kind = Parameters<typeof policyProblems>[1];

/** Every policy document a rendered stack carries, with the kind of policy it is. */
function policies(stack: RenderedStack): Array<{ where: string; kind: Kind; doc: { Statement: any[] } }> {
    const found: Array<{ where: string; kind: Kind; doc: { Statement: any[] } }> = [];
    const add = (cls: Parameters<typeof ofType>[1], input: string, kind: Kind) => {
        for (const r of ofType(stack, cls)) {
            if (r.inputs[input] !== undefined) {
                found.push({ where: `${r.type} ${r.name}.${input}`, kind, doc: policyOf(r, input) });
            }
        }
    };
    add(aws.iam.Role, "assumeRolePolicy", "trust");
    add(aws.iam.RolePolicy, "policy", "identity");
    add(aws.iam.Policy, "policy", "identity");
    add(aws.s3.BucketPolicy, "policy", "resource");
    add(aws.ec2.VpcEndpoint, "policy", "resource");
    add(aws.kms.Key, "policy", "key");
    add(aws.cloudwatch.EventBusPolicy, "policy", "resource");
    return found;
}

describe("IAM policy documents of both stacks", () => {
    const stacks: Array<[string, () => Promise<RenderedStack>]> = [
        ["forensic (defaults)", () => renderStack("forensic")],
        ["forensic (ssm access, AWS Config, management events)", () => renderStack("forensic", {
            config: {
                "ir-forensics:analysisNetwork.access": "ssm",
                "ir-forensics:awsConfig.enabled": true,
                "ir-forensics:trail.managementEvents": true,
            },
        })],
        ["security (defaults)", () => renderSecurity()],
        ["security (GuardDuty, Slack)", () => renderSecurity({
            config: { "ir-forensics:guardDuty": { minSeverity: 5 } },
            secrets: { "ir-forensics:slackWebhookUrl": "https://hooks.slack.com/services/T/B/X" },
        })],
    ];

    for (const [label, render] of stacks) {
        it(`${label}: every action exists, nothing grants "*", every trust is conditioned`, async () => {
            const docs = policies(await render());
            assert.ok(docs.length >= 8, `only ${docs.length} policies found`);
            const problems: string[] = [];
            for (const { where, kind, doc } of docs) {
                for (const p of await policyProblems(doc, kind)) {
                    problems.push(`${where} [${p.sid}]: ${p.problem}`);
                }
            }
            assert.deepStrictEqual(problems, []);
        });
    }

    it("the checker catches unknown actions, wildcards that match nothing and Allow *", async () => {
        assert.strictEqual(await actionProblem("s3:GetObject"), undefined);
        assert.strictEqual(await actionProblem("ec2:Describe*"), undefined);
        assert.match(String(await actionProblem("s3:DeleteEverything")), /unknown action/);
        assert.match(String(await actionProblem("s3:Nothing*")), /matches no s3 action/);
        assert.match(String(await actionProblem("nosuchservice:Get")), /unknown service/);
        const problems = await policyProblems({
            Statement: [
                { Sid: "All", Effect: "Allow", Action: "*", Resource: "*" },
                { Sid: "Scopable", Effect: "Allow", Action: "s3:GetObject", Resource: "*" },
            ],
        }, "identity");
        assert.deepStrictEqual(problems.map((p) => p.sid), ["All", "All", "Scopable"]);
        const trust = await policyProblems({ Statement: [{ Sid: "Open", Effect: "Allow", Principal: { AWS: "arn:aws:iam::123456789012:root" }, Action: "sts:AssumeRole" }] }, "trust");
        assert.deepStrictEqual(trust.map((p) => p.problem), ["cross-account trust without a condition"]);
    });
});
