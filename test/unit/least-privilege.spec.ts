/**
 * The roles grant what the code calls, and only that: the AWS actions each function's source calls (SDK
 * commands and paginators, mapped to IAM actions by the client that exports them) are compared with the
 * policies the stacks give the roles that run them.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as aws from "@pulumi/aws";
import { asList, one, policyOf, renderStack, RenderedStack } from "../support/pulumi";
import { functionSource } from "../support/sources";
import { renderSecurity } from "../support/stacks";

/** SDK client packages and their IAM service prefixes. */
const CLIENTS: Record<string, string> = {
    "@aws-sdk/client-ec2": "ec2",
    "@aws-sdk/client-auto-scaling": "autoscaling",
    "@aws-sdk/client-elastic-load-balancing-v2": "elasticloadbalancing",
    "@aws-sdk/client-elastic-load-balancing": "elasticloadbalancing",
    "@aws-sdk/client-iam": "iam",
    "@aws-sdk/client-cloudtrail": "cloudtrail",
    "@aws-sdk/client-dynamodb": "dynamodb",
    "@aws-sdk/client-sfn": "states",
    "@aws-sdk/client-sns": "sns",
    "@aws-sdk/client-s3": "s3",
    "@aws-sdk/client-sts": "sts",
    "@aws-sdk/client-ssm": "ssm",
    "@aws-sdk/client-eventbridge": "events",
};

/** SDK commands whose IAM action has another name. */
const IAM_ACTION_OF: Record<string, string> = {
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:HeadObject": "s3:GetObject",
    "s3:ListParts": "s3:ListMultipartUploadParts",
};

/** Services the engine reaches in member accounts (through the member responder role). */
const MEMBER_SIDE = ["ec2", "autoscaling", "elasticloadbalancing", "iam", "cloudtrail", "ssm"];

/** EC2 calls made in the forensic account, through its evidence copier (never in a member account). */
const FORENSIC_SIDE = ["ec2:LockSnapshot"];

/** IAM actions a module calls: `new XCommand` and `paginateX` of the clients it imports. */
function actionsCalledBy(files: string[]): Set<string> {
    const actions = new Set<string>();
    for (const file of files) {
        const source = fs.readFileSync(functionSource(file), "utf8");
        for (const [pkg, prefix] of Object.entries(CLIENTS)) {
            const imports = [...source.matchAll(new RegExp(`import \\{([^}]*)\\} from "${pkg}";`, "g"))].flatMap((m) => m[1].split(","));
            for (const imported of imports.map((s) => s.trim().split(/\s+as\s+/)[0]).filter(Boolean)) {
                const command = /^(\w+)Command$/.exec(imported)?.[1] ?? /^paginate(\w+)$/.exec(imported)?.[1];
                if (command) {
                    actions.add(IAM_ACTION_OF[`${prefix}:${command}`] ?? `${prefix}:${command}`);
                }
            }
        }
    }
    return actions;
}

/** Every action an identity policy allows (wildcards kept as written). */
function allowed(doc: { Statement: any[] }): string[] {
    return doc.Statement.filter((s) => s.Effect === "Allow").flatMap((s) => asList<string>(s.Action));
}

function covers(grants: string[], action: string): boolean {
    return grants.some((g) => new RegExp(`^${g.replace(/\*/g, ".*")}$`, "i").test(action));
}

/** What a role may do beyond the logs and traces every function writes. */
function own(grants: string[]): string[] {
    return grants.filter((a) => !/^(logs|xray):/.test(a));
}

describe("least privilege: roles match the calls of the code they run", () => {
    let stack: RenderedStack;
    before(async () => {
        stack = await renderSecurity();
    });

    it("the member responder role allows every call of triage, isolation, acquisition, containment, the group keeper and the Security Hub tagger, and nothing else", () => {
        const called = new Set([...actionsCalledBy([
            "triage.ts", "isolation.ts", "containment.ts", "containmentCheck.ts", "revocation.ts", "securityGroups.ts", "steps.ts", "securityHub.ts", "identity.ts", "disk.ts", "memory.ts",
            "groupKeeper.ts",
        ])].filter((a) => MEMBER_SIDE.includes(a.split(":")[0]) && !FORENSIC_SIDE.includes(a)));
        const grants = allowed(policyOf(one(stack, aws.iam.RolePolicy, "member-444455556666-responder")));
        // Passing the IR and contained roles is what the profile swaps need (not an SDK call of their own); the
        // KMS actions are what EBS does with a customer-managed volume key when the responder copies a snapshot.
        const expectedExtra = ["iam:PassRole", "kms:Decrypt", "kms:ReEncryptFrom", "kms:DescribeKey", "kms:CreateGrant"];
        assert.deepStrictEqual([...called].filter((a) => !covers(grants, a)), [], "calls the role does not allow");
        assert.deepStrictEqual(grants.filter((g) => !called.has(g) && !expectedExtra.includes(g)), [], "grants no code uses");
    });

    const engineFunctions: Array<[string, string[], string[]]> = [
        // [function, source files, member-account assumption needed]
        // The opener reads a "contained" instance itself (member role assumed).
        ["open-case", ["cases.ts", "registry.ts", "notify.ts", "containmentCheck.ts", "aws.ts"], []],
        ["triage", ["triage.ts", "evidence.ts", "steps.ts", "aws.ts"], ["kms:GenerateDataKey", "kms:Encrypt"]],
        ["isolate", ["isolation.ts", "notify.ts", "aws.ts"], []],
        // registry.ts: the fallback record when the bucket refuses the manifest.
        ["record", ["record.ts", "evidence.ts", "registry.ts"], ["kms:GenerateDataKey", "kms:Encrypt"]],
        // Containment writes the manifest after every attempt (fallback: the case table).
        ["contain", ["containment.ts", "containmentCheck.ts", "revocation.ts", "record.ts", "evidence.ts", "registry.ts", "notify.ts", "aws.ts"], ["kms:GenerateDataKey", "kms:Encrypt"]],
        ["alarm", ["alarm.ts", "notify.ts"], []],
        // The group keeper acts in member accounts only (the member role assumed).
        ["keep-groups", ["groupKeeper.ts", "securityGroups.ts", "aws.ts"], []],
        ["close", ["record.ts", "evidence.ts", "registry.ts", "notify.ts", "identity.ts", "aws.ts"], ["kms:GenerateDataKey", "kms:Encrypt"]],
        // The memory function also reads the image back (decrypt) and uses the module store's key through S3.
        // Reading the completed upload back by its version id is s3:GetObjectVersion (HeadObject and GetObject with VersionId).
        ["memory", ["memory.ts", "memoryBranch.ts", "acquisition.ts", "steps.ts", "aws.ts"], ["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt", "s3:GetObjectVersion"]],
        ["disk", ["disk.ts", "diskBranch.ts", "acquisition.ts", "steps.ts", "aws.ts"], []],
    ];
    for (const [fn, files, kms] of engineFunctions) {
        it(`the ${fn} callback's role allows the security-account calls of its code, and nothing else`, () => {
            const called = [...actionsCalledBy(files)].filter((a) => !MEMBER_SIDE.includes(a.split(":")[0]));
            const grants = own(allowed(policyOf(one(stack, aws.iam.RolePolicy, `engine-${fn}-policy`))));
            assert.deepStrictEqual(called.filter((a) => !covers(grants, a)), [], "calls the role does not allow");
            // SSE-KMS uploads need the evidence key through S3 (no SDK call of ours names KMS).
            assert.deepStrictEqual(grants.filter((g) => !called.includes(g) && !kms.includes(g)), [], "grants no code uses");
        });
    }

    it("the forensic account's evidence copier may copy, tag at creation and lock snapshots, and never delete, unlock or share them", async () => {
        const forensic = await renderStack("forensic");
        const doc = policyOf(one(forensic, aws.iam.RolePolicy, "evidence-copier-policy"));
        // The forensic-side calls of the disk branch: copies (tagged through TagSpecifications), their states, locks.
        const expected = ["ec2:CopySnapshot", "ec2:CreateTags", "ec2:DescribeSnapshots", "ec2:LockSnapshot"];
        assert.deepStrictEqual(allowed(doc).filter((a) => !a.startsWith("kms:")).sort(), expected);
        for (const a of ["ec2:CopySnapshot", "ec2:DescribeSnapshots", "ec2:LockSnapshot"]) {
            assert.ok(actionsCalledBy(["disk.ts"]).has(a), `${a} is called by the disk branch`);
        }
        const deny = doc.Statement.find((st: any) => st.Effect === "Deny");
        assert.deepStrictEqual(asList(deny.Action).sort(), ["ec2:DeleteSnapshot", "ec2:DisableSnapshotBlockPublicAccess", "ec2:ModifySnapshotAttribute", "ec2:UnlockSnapshot"]);
        const trust = JSON.parse(one(forensic, aws.iam.Role, "evidence-copier-role").inputs.assumeRolePolicy);
        assert.deepStrictEqual(trust.Statement[0].Condition.ArnLike, { "aws:PrincipalArn": "arn:aws:iam::222233334444:role/ir-forensics/responder/*" });
        assert.ok(trust.Statement[0].Condition.StringEquals["aws:PrincipalOrgID"]);
    });
});
