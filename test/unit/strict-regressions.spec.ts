/**
 * The policies the stacks render, decided as AWS decides them (the strict layer's evaluator), for each
 * defect AWS's rules exposed: each of these requests was refused before the fix, and must be allowed now
 * (or, where the rule is a refusal, still refused).
 */
import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { DescribePrefixListsCommand, DescribeVpcEndpointsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";
import { decide } from "../../emulator/strict/authorize";
import { AuthRequest, EmulatorState, Principal, RoleFacts } from "../../emulator/strict/types";
import { acquisitionPaths, VpcLookups } from "../../functions/response/securityGroups";
import type { EngineSettings } from "../../functions/shared/settings";
import { stepSettings } from "../support/cases";
import { one, policyOf, renderStack, RenderedStack } from "../support/pulumi";
import { renderSecurity } from "../support/stacks";

const FORENSIC = "111122223333";
const SECURITY = "222233334444";
const MEMBER = "444455556666";
const ORG = "o-a1b2c3d4e5";
const REGION = "eu-west-1";

type Doc = { Statement: object[] };

/** Just what the evaluator reads: the organization, and the roles whose policies it is given. */
function stateWith(roles: RoleFacts[]): EmulatorState {
    return {
        organizationOf: (account: string) => ([FORENSIC, SECURITY, MEMBER].includes(account) ? ORG : undefined),
        role: async (arn: string) => roles.find((r) => r.arn === arn),
    } as unknown as EmulatorState;
}

function roleFacts(arn: string, documents: Doc[]): RoleFacts {
    const [, , , , account] = arn.split(":");
    return {
        arn, account, name: arn.split("/").pop() ?? "", path: "/", trustPolicy: "{}", maxSessionSeconds: 3600, tags: {},
        policies: documents.map((d, i) => ({ name: `p${i}`, document: JSON.stringify(d) })),
    };
}

function session(roleArn: string): Principal {
    const [, , , , account] = roleArn.split(":");
    return { kind: "assumed-role", arn: `arn:aws:sts::${account}:assumed-role/${roleArn.split("/").pop()}/s`, account, roleArn, sessionName: "s" };
}

const ALLOW_ALL: Doc = { Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };

async function verdict(principal: Principal, documents: Doc[], request: AuthRequest, region = REGION): Promise<string> {
    const decision = await decide(principal, request, stateWith([roleFacts(principal.roleArn ?? "", documents)]), region);
    return decision.allowed ? "Allowed" : `Denied: ${decision.reason}`;
}

describe("strict regressions: the rendered policies against AWS's rules", function () {
    this.timeout(120_000);
    let security: RenderedStack;
    let forensic: RenderedStack;
    before(async () => {
        security = await renderSecurity();
        forensic = await renderStack("forensic");
    });

    it("the module store's key, used through S3 under a Bucket Key (encryption context: the bucket's ARN), serves the memory function", async () => {
        const memory = one(security, aws.iam.Role, "engine-memory-role").state.arn as string;
        const settings = JSON.parse(one(security, aws.lambda.Function, /engine-memory/).inputs.environment.variables.IRF_SETTINGS);
        const bucket = settings.memory.moduleStoreBucket as string;
        const key = `arn:aws:kms:${REGION}:${SECURITY}:key/0000-module-store`;
        const request = (context: string): AuthRequest => ({
            action: "kms:Decrypt", resource: key, resourceAccount: SECURITY, why: "S3 calls KMS for SSE-KMS",
            resourcePolicy: JSON.stringify(policyOf(one(security, aws.kms.Key, "modules-key"))),
            context: { "kms:ViaService": `s3.${REGION}.amazonaws.com`, "kms:CallerAccount": SECURITY, "kms:EncryptionContext:aws:s3:arn": context },
        });
        const role = policyOf(one(security, aws.iam.RolePolicy, "engine-memory-policy"));
        // Before: the identity policy required arn:aws:s3:::<store>/*, which S3 never sends under a Bucket Key.
        assert.strictEqual(await verdict(session(memory), [role], request(`arn:aws:s3:::${bucket}`)), "Allowed");
    });

    it("the memory function reads the completed upload back by its version (s3:GetObjectVersion)", async () => {
        const memory = one(security, aws.iam.Role, "engine-memory-role").state.arn as string;
        const role = policyOf(one(security, aws.iam.RolePolicy, "engine-memory-policy"));
        const object = "arn:aws:s3:::evidence-bucket-1a2b3c/cases/c1/memory/i-0123456789abcdef0.lime";
        // The identity side (the bucket's own policy admits the responder roles: the drill proves the pair).
        assert.strictEqual(await verdict(session(memory), [role], { action: "s3:GetObjectVersion", resource: object, resourceAccount: SECURITY, context: {} }), "Allowed");
    });

    it("the evidence bucket admits a responder's UploadPart and CompleteMultipartUpload (no encryption header) and still refuses another encryption", async () => {
        const bucketPolicy = JSON.stringify(policyOf(one(forensic, aws.s3.BucketPolicy, "evidence-bucket-policy")));
        const bucket = one(forensic, aws.s3.Bucket, "evidence-bucket").state.arn as string;
        const responder = session(`arn:aws:iam::${SECURITY}:role/ir-forensics/responder/engine-memory-role-1`);
        const put = (context: Record<string, string>): AuthRequest => ({
            action: "s3:PutObject", resource: `${bucket}/cases/c1/memory/i-1.lime`, resourceAccount: FORENSIC, resourcePolicy: bucketPolicy,
            context: { "s3:authType": "REST-QUERY-STRING", ...context },
        });
        // Before: StringNotEqualsIfExists counted the missing header as "not aws:kms" and denied every part.
        assert.strictEqual(await verdict(responder, [ALLOW_ALL], put({})), "Allowed");
        assert.match(await verdict(responder, [ALLOW_ALL], put({ "s3:x-amz-server-side-encryption": "AES256" })), /Denied: explicit Deny .*DenyUploadsNotEncryptedWithKms/);
    });

    it("the evidence copier tags its copies at creation and locks them: snapshot ARNs name no account", async () => {
        const copier = one(forensic, aws.iam.Role, "evidence-copier-role").state.arn as string;
        const policy = policyOf(one(forensic, aws.iam.RolePolicy, "evidence-copier-policy"));
        const snapshot = `arn:aws:ec2:${REGION}::snapshot/snap-0123456789abcdef0`;
        assert.strictEqual(await verdict(session(copier), [policy], {
            action: "ec2:CreateTags", resource: snapshot, resourceAccount: FORENSIC, why: "tagging at creation",
            context: { "ec2:CreateAction": "CopySnapshot", "aws:RequestTag/ir-forensics:case": "c1", "aws:TagKeys": ["ir-forensics:case"], "aws:ViaAWSService": "false" },
        }), "Allowed");
        assert.strictEqual(await verdict(session(copier), [policy], {
            action: "ec2:LockSnapshot", resource: snapshot, resourceAccount: FORENSIC, context: { "aws:ResourceTag/ir-forensics:case": "c1" },
        }), "Allowed");
    });

    it("the member responder may tag snapshots only at creation (the disk branch no longer tags originals afterwards)", async () => {
        const responder = session(`arn:aws:iam::${MEMBER}:role/ir-forensics/ir-forensics-responder`);
        const policy = policyOf(one(security, aws.iam.RolePolicy, "member-444455556666-responder"));
        const snapshot = `arn:aws:ec2:${REGION}::snapshot/snap-0123456789abcdef0`;
        const tags = { "aws:RequestTag/ir-forensics:device": "/dev/xvda", "aws:TagKeys": ["ir-forensics:device"] };
        assert.match(await verdict(responder, [policy], { action: "ec2:CreateTags", resource: snapshot, resourceAccount: MEMBER, context: tags }), /^Denied/);
        assert.strictEqual(await verdict(responder, [policy], {
            action: "ec2:CreateTags", resource: snapshot, resourceAccount: MEMBER, context: { ...tags, "ec2:CreateAction": "CreateSnapshots" },
        }), "Allowed");
    });

    it("the member responder may use a customer-managed volume key through EC2 to copy its snapshot (and only through EC2)", async () => {
        const responder = session(`arn:aws:iam::${MEMBER}:role/ir-forensics/ir-forensics-responder`);
        const policy = policyOf(one(security, aws.iam.RolePolicy, "member-444455556666-responder"));
        const key = `arn:aws:kms:${REGION}:${MEMBER}:key/0000-volumes`;
        // A key policy that delegates to IAM (docs/architecture.md "Volumes under customer-managed keys"): the role's own policy decides.
        const resourcePolicy = JSON.stringify({ Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${MEMBER}:root` }, Action: "kms:*", Resource: "*" }] });
        const via = { "kms:ViaService": `ec2.${REGION}.amazonaws.com`, "kms:CallerAccount": MEMBER };
        for (const [action, extra] of [["kms:ReEncryptFrom", {}], ["kms:DescribeKey", {}], ["kms:CreateGrant", { "kms:GrantIsForAWSResource": "true" }]] as const) {
            assert.strictEqual(await verdict(responder, [policy], { action, resource: key, resourceAccount: MEMBER, resourcePolicy, why: "EBS calls KMS", context: { ...via, ...extra } }), "Allowed", action);
        }
        assert.match(await verdict(responder, [policy], { action: "kms:Decrypt", resource: key, resourceAccount: MEMBER, resourcePolicy, context: { "kms:CallerAccount": MEMBER } }), /^Denied/);
    });

    it("a member's IR key admits the evidence copier through EC2 in the forensic region (copies from another member region)", async () => {
        const copier = one(forensic, aws.iam.Role, "evidence-copier-role").state.arn as string;
        const keyPolicy = JSON.stringify(policyOf(one(security, aws.kms.Key, "member-444455556666-us-east-1-ir-key")));
        const key = `arn:aws:kms:us-east-1:${MEMBER}:key/0000-ir`;
        const request = (region: string): AuthRequest => ({
            action: "kms:DescribeKey", resource: key, resourceAccount: MEMBER, resourcePolicy: keyPolicy, why: "EBS calls KMS",
            context: { "kms:ViaService": `ec2.${region}.amazonaws.com`, "kms:CallerAccount": FORENSIC },
        });
        const copierSession = { ...session(copier), roleArn: `arn:aws:iam::${FORENSIC}:role/ir-forensics/ir-forensics-evidence-copier` };
        assert.strictEqual(await verdict(copierSession, [ALLOW_ALL], request(REGION), REGION), "Allowed");
        assert.match(await verdict(copierSession, [ALLOW_ALL], request("ap-south-1"), "ap-south-1"), /^Denied/);
    });

    describe("acquisition egress, service by service", () => {
        const settings: EngineSettings = { ...stepSettings({ evidenceBucket: "e", evidenceKeyArn: "k" }) };
        const endpoints = (services: string[], gatewayS3: boolean) => [
            ...services.map((service, i) => ({
                VpcEndpointId: `vpce-${i}`, VpcEndpointType: "Interface", ServiceName: `com.amazonaws.${REGION}.${service}`, State: "available",
                PrivateDnsEnabled: true, Groups: [{ GroupId: `sg-endpoint-${service}` }],
            })),
            ...(gatewayS3 ? [{ VpcEndpointId: "vpce-s3", VpcEndpointType: "Gateway", ServiceName: `com.amazonaws.${REGION}.s3`, State: "available" }] : []),
        ];
        async function paths(services: string[], gatewayS3: boolean, bucketRegions: string[]) {
            const ec2 = new EC2Client({ region: REGION });
            const mock = mockClient(ec2);
            mock.on(DescribeVpcEndpointsCommand).resolves({ VpcEndpoints: endpoints(services, gatewayS3) as never });
            mock.on(DescribePrefixListsCommand).resolves({ PrefixLists: [{ PrefixListId: "pl-s3", PrefixListName: `com.amazonaws.${REGION}.s3` }] });
            try {
                return await acquisitionPaths("vpc-1", { ...settings, isolation: { ...settings.isolation, bucketRegions } }, new VpcLookups(ec2));
            } finally {
                mock.restore();
                ec2.destroy();
            }
        }
        const fallback = (egress: { cidr?: string }[]) => egress.some((r) => r.cidr === "0.0.0.0/0");

        it("a VPC with an STS endpoint only keeps the fallback: SSM and S3 go through its NAT", async () => {
            // Before: any interface endpoint removed the 0.0.0.0/0:443 fallback, and SSM was cut off.
            const p = await paths(["sts"], false, [REGION]);
            assert.deepStrictEqual(p.public, ["ssm", "ec2messages", `s3 in ${REGION}`]);
            assert.ok(fallback(p.egress));
            assert.ok(!p.egress.some((r) => (r as { groupId?: string }).groupId === "sg-endpoint-sts"), "the STS endpoint is not needed for acquisition");
        });

        it("buckets in another region need the fallback even with every endpoint in the VPC's region", async () => {
            // Before: the S3 gateway endpoint's prefix list (regional) was all the bucket path there was.
            const p = await paths(["ssm", "ec2messages"], true, ["us-east-1"]);
            assert.deepStrictEqual(p.public, ["s3 in us-east-1"]);
            assert.ok(fallback(p.egress));
        });

        it("everything through endpoints: no fallback, the endpoints' groups and the S3 prefix list only", async () => {
            const p = await paths(["ssm", "ec2messages", "ssmmessages"], true, [REGION]);
            assert.deepStrictEqual(p.public, []);
            assert.ok(!fallback(p.egress));
            assert.deepStrictEqual(p.egress.map((r) => (r as { groupId?: string; prefixListId?: string }).groupId ?? (r as { prefixListId?: string }).prefixListId).sort(),
                ["pl-s3", "sg-endpoint-ec2messages", "sg-endpoint-ssm", "sg-endpoint-ssmmessages"]);
        });
    });
});
