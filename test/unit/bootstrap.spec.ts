/**
 * The member deploy role's StackSet template (bootstrap/): committed as generated, its permissions exactly
 * what the member footprint's resource types need, its documents valid, its trust limited to the security
 * account's deploy principals inside the organization (decided by iam-simulate).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { FOOTPRINT_ACTIONS, MEMBER_DEPLOY_ROLE_NAME, deployPolicy, memberDeployRoleTemplate, renderedTemplate } from "../../bootstrap/memberDeployRole";
import { policyProblems } from "../support/iam";
import { PROJECT_ROOT, RenderedStack } from "../support/pulumi";
import { renderSecurity } from "../support/stacks";

const MEMBER = "444455556666";
const SECURITY = "222233334444";
const ORG = "o-a1b2c3d4e5";
const DEPLOYER = `arn:aws:iam::${SECURITY}:role/ci/ir-forensics-deploy`;
const PARAMETERS: Record<string, string | string[]> = { SecurityAccountId: SECURITY, OrganizationId: ORG, DeployPrincipalArns: [DEPLOYER] };

/** The template's document as CloudFormation would create it in the member account (Fn::Sub and Ref resolved). */
function resolved(value: unknown): any {
    if (Array.isArray(value)) {
        return value.map(resolved);
    }
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (typeof o["Fn::Sub"] === "string") {
            return (o["Fn::Sub"] as string).replace(/\$\{([\w:]+)\}/g, (_m, name: string) =>
                name === "AWS::Partition" ? "aws" : name === "AWS::AccountId" ? MEMBER : String(PARAMETERS[name]));
        }
        if (typeof o.Ref === "string") {
            return PARAMETERS[o.Ref];
        }
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolved(v)]));
    }
    return value;
}

const role = () => resolved((memberDeployRoleTemplate() as any).Resources.MemberDeployRole.Properties);

async function allowed(action: string, resource: string, context: Record<string, string | string[]> = {}): Promise<string> {
    const result = await runSimulation({
        request: {
            principal: `arn:aws:sts::${MEMBER}:assumed-role/${MEMBER_DEPLOY_ROLE_NAME}/ir-forensics-deploy`, action,
            resource: { resource, accountId: MEMBER },
            contextVariables: { "aws:PrincipalArn": `arn:aws:iam::${MEMBER}:role/${MEMBER_DEPLOY_ROLE_NAME}`, "aws:PrincipalAccount": MEMBER, ...context },
        },
        identityPolicies: [{ name: "footprint", policy: role().Policies[0].PolicyDocument }],
        serviceControlPolicies: [], resourceControlPolicies: [],
    }, {});
    return result.resultType === "error" ? `error: ${result.errors.message}` : result.overallResult;
}

async function mayAssume(principalArn: string, orgId: string): Promise<string> {
    const account = principalArn.split(":")[4];
    const result = await runSimulation({
        request: {
            principal: principalArn, action: "sts:AssumeRole",
            resource: { resource: `arn:aws:iam::${MEMBER}:role/${MEMBER_DEPLOY_ROLE_NAME}`, accountId: MEMBER },
            contextVariables: { "aws:PrincipalArn": principalArn, "aws:PrincipalAccount": account, "aws:PrincipalOrgID": orgId },
        },
        identityPolicies: [{ name: "caller", policy: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", Resource: "*" }] } }],
        resourcePolicy: role().AssumeRolePolicyDocument,
        serviceControlPolicies: [], resourceControlPolicies: [],
    }, {});
    return result.resultType === "error" ? `error: ${result.errors.message}` : result.overallResult;
}

describe("member bootstrap: the deploy role's StackSet template", function () {
    let security: RenderedStack;
    before(async () => {
        security = await renderSecurity();
    });

    it("is committed as generated (npm run bootstrap-template)", () => {
        assert.strictEqual(fs.readFileSync(path.join(PROJECT_ROOT, "bootstrap", "member-deploy-role.json"), "utf8"), renderedTemplate());
    });

    it("grants for exactly the resource types the member footprint creates, one entry each", () => {
        const types = new Set(security.resources.filter((r) => r.name.startsWith(`member-${MEMBER}`) && !r.type.startsWith("pulumi:") && !r.type.startsWith("ir-forensics:")).map((r) => r.type));
        assert.ok(types.size >= 8, [...types].join(", "));
        assert.deepStrictEqual(Object.keys(FOOTPRINT_ACTIONS).sort(), [...types].sort());
    });

    it("its documents are valid: every action exists, no Allow on * that can be scoped, the trust is conditioned", async () => {
        const { AssumeRolePolicyDocument, Policies } = role();
        // Tagging a key as it is created is authorized with kms:CreateKey and kms:TagResource on "*" (AWS KMS
        // Developer Guide, "Controlling access to tags"): the key has no ARN yet. The request tag scopes it.
        const createTime = (p: { sid: string; problem: string }) => p.sid === "CreateFootprintKeys" && /for kms:CreateKey, kms:TagResource, which/.test(p.problem);
        assert.deepStrictEqual(Policies[0].PolicyDocument.Statement.find((x: { Sid: string }) => x.Sid === "CreateFootprintKeys").Condition,
            { StringEquals: { "aws:RequestTag/Project": "ir-forensics" } });
        const problems = [
            ...(await policyProblems(Policies[0].PolicyDocument, "identity")).filter((p) => !createTime(p)).map((p) => `policy [${p.sid}]: ${p.problem}`),
            ...(await policyProblems(AssumeRolePolicyDocument, "trust")).map((p) => `trust [${p.sid}]: ${p.problem}`),
        ];
        assert.deepStrictEqual(problems, []);
        assert.ok(deployPolicy().Statement.length >= 10);
    });

    it("trusts only the security account's deploy principals inside the organization", async () => {
        assert.strictEqual(await mayAssume(DEPLOYER, ORG), "Allowed");
        assert.notStrictEqual(await mayAssume(`arn:aws:iam::${SECURITY}:role/ir-forensics/ir-forensics-responder`, ORG), "Allowed", "the engine's roles cannot deploy");
        assert.notStrictEqual(await mayAssume(DEPLOYER, "o-zzzzzzzzzz"), "Allowed", "outside the organization");
        assert.notStrictEqual(await mayAssume(`arn:aws:iam::999988887777:role/ci/ir-forensics-deploy`, ORG), "Allowed", "another account");
    });

    it("may manage the footprint's resources and nothing else of the account", async () => {
        const roleArn = (name: string, p = "ir-forensics/") => `arn:aws:iam::${MEMBER}:role/${p}${name}`;
        assert.strictEqual(await allowed("iam:CreateRole", roleArn("ir-forensics-responder")), "Allowed");
        assert.notStrictEqual(await allowed("iam:CreateRole", roleArn("admin", "")), "Allowed");
        assert.notStrictEqual(await allowed("iam:PutRolePolicy", roleArn("OrganizationAccountAccessRole", "")), "Allowed");
        assert.strictEqual(await allowed("iam:AttachRolePolicy", roleArn("ir-forensics-ir-instance"), { "iam:PolicyARN": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" }), "Allowed");
        assert.notStrictEqual(await allowed("iam:AttachRolePolicy", roleArn("ir-forensics-ir-instance"), { "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess" }), "Allowed");
        assert.strictEqual(await allowed("kms:CreateKey", "*", { "aws:RequestTag/Project": "ir-forensics", "aws:TagKeys": ["Project"] }), "Allowed");
        assert.notStrictEqual(await allowed("kms:CreateKey", "*"), "Allowed", "a key without the project's tag");
        assert.notStrictEqual(await allowed("kms:PutKeyPolicy", `arn:aws:kms:eu-west-1:${MEMBER}:key/1234abcd-12ab-34cd-56ef-1234567890ab`, { "aws:ResourceTag/Project": "payments" }), "Allowed");
        assert.strictEqual(await allowed("events:PutRule", `arn:aws:events:eu-west-1:${MEMBER}:rule/ir-forensics-tag-change`), "Allowed");
        assert.notStrictEqual(await allowed("events:PutRule", `arn:aws:events:eu-west-1:${MEMBER}:rule/payments`), "Allowed");
        assert.strictEqual(await allowed("ssm:UpdateDocument", `arn:aws:ssm:eu-west-1:${MEMBER}:document/ir-forensics-acquire-memory`), "Allowed");
        assert.notStrictEqual(await allowed("ssm:SendCommand", `arn:aws:ssm:eu-west-1:${MEMBER}:document/ir-forensics-acquire-memory`), "Allowed");
    });
});
