/**
 * The CrossGuard pack (policy/) against both stacks as rendered under mocks, through the pack's own
 * StackValidationPolicy entry points: the committed stacks pass every policy, and each policy reports the
 * resource a breach would change.
 */
import * as assert from "assert";
import { PolicyResource, StackValidationArgs } from "@pulumi/policy";
import {
    CheckedResource, evidenceBucketProblems, interfaceEndpoints, POLICIES, publicAccess, unconditionedTrusts, wildcardAllows,
} from "../../policy/policies";
import { RecordedResource, renderStack, RenderedStack } from "../support/pulumi";
import { renderSecurity } from "../support/stacks";

/** What the pack sees of a rendered resource: the props the mocks resolved (inputs and computed names). */
const checked = (r: RecordedResource): CheckedResource => ({ type: r.type, name: r.name, props: r.state as Record<string, unknown> });

/** Runs every policy of the pack on a rendered stack; the violations, by policy. */
function violations(stack: RenderedStack): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const policy of POLICIES) {
        const found: string[] = [];
        const args = { resources: stack.resources.map((r) => ({ ...checked(r), urn: r.name }) as unknown as PolicyResource) } as StackValidationArgs;
        void policy.validateStack(args, (message) => found.push(message));
        out[policy.name] = found;
    }
    return out;
}

/** A copy of the resources with one changed. */
function changed(stack: RenderedStack, type: string, name: string, change: (props: Record<string, any>) => void): CheckedResource[] {
    return stack.resources.map((r) => {
        const c = checked(r);
        if (r.type === type && r.name === name) {
            const props = JSON.parse(JSON.stringify(c.props));
            change(props);
            return { ...c, props };
        }
        return c;
    });
}

describe("policy pack (CrossGuard) on the rendered stacks", function () {
    let forensic: RenderedStack;
    let security: RenderedStack;
    before(async () => {
        forensic = await renderStack("forensic");
        security = await renderSecurity();
    });

    it("both committed stacks pass every policy", () => {
        for (const [name, stack] of [["forensic", forensic], ["security", security]] as const) {
            const found = violations(stack);
            assert.deepStrictEqual(Object.values(found).flat(), [], `${name}: ${JSON.stringify(found, null, 1)}`);
            assert.deepStrictEqual(Object.keys(found).sort(), ["analysis-network-endpoints", "conditioned-trust", "evidence-bucket-protected", "no-public-access", "no-wildcard-allows"]);
        }
    });

    it("evidence bucket: Object Lock off, SSE-S3, or no TLS-only statement is reported", () => {
        const unlocked = changed(forensic, "aws:s3/bucket:Bucket", "evidence-bucket", (p) => { p.objectLockEnabled = false; });
        assert.deepStrictEqual(evidenceBucketProblems(unlocked), ["the evidence bucket has no Object Lock"]);
        const sseS3 = changed(forensic, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "evidence-bucket-encryption", (p) => {
            p.rules[0].applyServerSideEncryptionByDefault = { sseAlgorithm: "AES256" };
        });
        assert.deepStrictEqual(evidenceBucketProblems(sseS3), ["the evidence bucket is not encrypted with SSE-KMS by default"]);
        const plainHttp = changed(forensic, "aws:s3/bucketPolicy:BucketPolicy", "evidence-bucket-policy", (p) => {
            const doc = JSON.parse(p.policy);
            doc.Statement = doc.Statement.filter((s: any) => s.Condition?.Bool?.["aws:SecureTransport"] === undefined);
            p.policy = JSON.stringify(doc);
        });
        assert.deepStrictEqual(evidenceBucketProblems(plainHttp), ["the evidence bucket's policy does not deny requests without TLS"]);
    });

    it("wildcards: an Allow of s3:* is reported, a Deny of s3:* and the key's root delegation are not", () => {
        const allowAll = changed(security, "aws:iam/rolePolicy:RolePolicy", "engine-triage-policy", (p) => {
            const doc = JSON.parse(p.policy);
            doc.Statement.push({ Sid: "Everything", Effect: "Allow", Action: "s3:*", Resource: "*" });
            p.policy = JSON.stringify(doc);
        });
        assert.deepStrictEqual(wildcardAllows(allowAll), ["engine-triage-policy (policy, Everything) allows s3:*"]);
        const key = forensic.resources.find((r) => r.type === "aws:kms/key:Key" && r.name === "evidence-key")!;
        assert.ok(JSON.parse(String(key.state.policy)).Statement.some((s: any) => s.Action === "kms:*"), "the key delegates kms:* to its account");
        assert.ok(JSON.stringify(forensic.resources.map((r) => r.state)).includes("\\\"s3:*\\\""), "a Deny of s3:* (TLS only) is in the stack");
    });

    it("trust: a role that trusts another account without a condition is reported", () => {
        const role = security.resources.find((r) => r.type === "aws:iam/role:Role" && JSON.stringify(r.state.assumeRolePolicy ?? "").includes("\\\"AWS\\\""));
        assert.ok(role, "a role trusted by an AWS principal");
        const open = changed(security, role.type, role.name, (p) => {
            const doc = JSON.parse(p.assumeRolePolicy);
            for (const s of doc.Statement) {
                delete s.Condition;
            }
            p.assumeRolePolicy = JSON.stringify(doc);
        });
        assert.match(unconditionedTrusts(open).join("\n"), new RegExp(`^${role.name} trusts .* without a condition`));
    });

    it("public access: a bucket with a public access block off, or a policy that allows everyone, is reported", () => {
        const open = changed(forensic, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "evidence-bucket-public-access", (p) => { p.restrictPublicBuckets = false; });
        assert.deepStrictEqual(publicAccess(open), ["evidence-bucket lacks a public access block with all four settings on"]);
        const everyone = changed(forensic, "aws:s3/bucketPolicy:BucketPolicy", "evidence-bucket-policy", (p) => {
            const doc = JSON.parse(p.policy);
            doc.Statement.push({ Sid: "Anyone", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "*" });
            p.policy = JSON.stringify(doc);
        });
        assert.deepStrictEqual(publicAccess(everyone), ["evidence-bucket-policy allows everyone (Anyone)"]);
    });

    it("analysis network: interface endpoints only in ssm mode, and only SSM's", async () => {
        const ssm = await renderStack("forensic", { config: { "ir-forensics:analysisNetwork.access": "ssm" } });
        const resources = ssm.resources.map(checked);
        const endpoints = resources.filter((r) => r.type === "aws:ec2/vpcEndpoint:VpcEndpoint" && r.props.vpcEndpointType === "Interface");
        assert.ok(endpoints.length >= 2, "ssm mode creates the SSM endpoints");
        assert.deepStrictEqual(interfaceEndpoints(resources, { analysisAccess: "ssm" }), []);
        assert.strictEqual(interfaceEndpoints(resources, { analysisAccess: "eic" }).length, endpoints.length);
        const sts = resources.map((r) => r === endpoints[0] ? { ...r, props: { ...r.props, serviceName: "com.amazonaws.eu-west-1.sts" } } : r);
        assert.match(interfaceEndpoints(sts, { analysisAccess: "ssm" }).join(), /interface endpoint for sts, not one of ssm, ssmmessages, ec2messages/);
    });
});
