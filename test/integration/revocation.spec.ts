/**
 * Credential revocation at scale (functions/response/revocation.ts), on moto behind the strict layer, which refuses
 * what IAM refuses: a role's inline policies over 10,240 characters in aggregate, a managed policy over
 * 6,144, an 11th attached managed policy, a 6th policy version. The engine's calls are made as the member
 * responder role with the policy the member stack renders; whether an instance's credentials still work is
 * decided by the layer's own authorizer (iam-simulate) with `ec2:SourceInstanceARN` in the context.
 */
import * as assert from "assert";
import { randomBytes } from "crypto";
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import {
    AddRoleToInstanceProfileCommand, AttachRolePolicyCommand, CreateInstanceProfileCommand, CreatePolicyCommand, CreatePolicyVersionCommand, CreateRoleCommand,
    GetRolePolicyCommand, IAMClient, ListAttachedRolePoliciesCommand, ListPolicyVersionsCommand, PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { AssumeRoleCommand } from "@aws-sdk/client-sts";
import { responderStatements } from "../../components/member/memberIrAutomation";
import { AccountClients, DEFAULT_REGION, clientsFor } from "../../emulator/aws/aws-clients";
import { Principal } from "../../emulator/strict/types";
import {
    QUOTAS, REVOCATION_POLICY, REVOCATION_POLICY_PATH, addRevokedInstance, addRevokedInstances, groupExpired, isInstanceRevoked, policySize, pruneRevokedInstances,
    removeRevokedInstance, revocationLeaseName, revocationPolicy, revocationSlots,
} from "../../functions/response/revocation";
import { FORENSIC, MEMBER, SECURITY, useMoto } from "../support/moto";
import { leaseQueueKey, withBatchedLease, withLease } from "../../functions/response/registry";
import { CreateTableCommand, DynamoDBClient, GetItemCommand } from "@aws-sdk/client-dynamodb";

const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });
const EC2_TRUST = doc({ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" });
const arnOf = (id: string) => `arn:aws:ec2:${DEFAULT_REGION}:${MEMBER}:instance/${id}`;
const newId = () => `i-${randomBytes(9).toString("hex").slice(0, 17)}`;
const at = (iso: string) => ({ now: () => new Date(iso) });

/** AWS's error as the SDK reports it. */
async function refusal(p: Promise<unknown>): Promise<{ name: string; message: string }> {
    try {
        await p;
    } catch (err) {
        return { name: (err as Error).name, message: (err as Error).message };
    }
    throw new Error("the request was accepted");
}

describe("credential revocation at scale: 1,000 instances on one role within IAM's quotas (moto behind the strict layer)", function () {
    this.timeout(300_000);
    const moto = useMoto();
    const run = randomBytes(3).toString("hex");
    let member: AccountClients;
    let responder: IAMClient;
    let roles = 0;

    /** A workload role (as a fleet's): an app policy inline, `attached` customer managed policies, `padding` characters of other inline policy. */
    async function workloadRole(options: { attached?: number; padding?: number } = {}): Promise<string> {
        const name = `fleet-${run}-${++roles}`;
        await member.iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: EC2_TRUST }));
        await member.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "app", PolicyDocument: doc({ Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" }) }));
        if (options.padding) {
            const filler = Array.from({ length: Math.ceil(options.padding / 45) }, (_, i) => `arn:aws:s3:::app-${run}-data-${String(i).padStart(6, "0")}/*`);
            await member.iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: "app-data", PolicyDocument: doc({ Effect: "Allow", Action: "s3:GetObject", Resource: filler }) }));
        }
        for (let i = 0; i < (options.attached ?? 0); i++) {
            const arn = (await member.iam.send(new CreatePolicyCommand({
                PolicyName: `${name}-own-${i}`, PolicyDocument: doc({ Effect: "Allow", Action: "sqs:SendMessage", Resource: `arn:aws:sqs:*:${MEMBER}:q${i}` }),
            }))).Policy?.Arn;
            await member.iam.send(new AttachRolePolicyCommand({ RoleName: name, PolicyArn: arn }));
        }
        return name;
    }

    /** The role's session of instance `id` (instance-profile credentials: ec2:SourceInstanceARN is the instance). */
    const sessionOf = (role: string, id: string): Principal => ({
        kind: "assumed-role", arn: `arn:aws:sts::${MEMBER}:assumed-role/${role}/${id}`, account: MEMBER,
        roleArn: `arn:aws:iam::${MEMBER}:role/${role}`, sessionName: id, sourceInstanceArn: arnOf(id),
    });
    async function allowed(role: string, id: string): Promise<boolean> {
        return (await moto().layer.authorize(sessionOf(role, id), { action: "ec2:DescribeInstances", resource: "*", context: {} }, DEFAULT_REGION)).allowed;
    }

    before(async () => {
        await moto().reset();
        member = clientsFor(moto().endpoint, MEMBER);
        // The member responder role, with the policy the member stack renders, assumed as the engine would.
        const names = {
            path: "/ir-forensics/", responderRoleName: "responder", forwarderRoleName: "forwarder", irProfileName: "ir-forensics-ir",
            containedProfileName: "ir-forensics-contained", irKeyAlias: "alias/ir-forensics/ir", memoryDocumentName: "ir-forensics-memory",
        };
        const role = (await member.iam.send(new CreateRoleCommand({
            RoleName: "responder", Path: "/ir-forensics/",
            AssumeRolePolicyDocument: doc({ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${MEMBER}:root` }, Action: "sts:AssumeRole" }),
        }))).Role;
        await member.iam.send(new PutRolePolicyCommand({
            RoleName: "responder", PolicyName: "responder",
            PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: responderStatements("aws", MEMBER, names, [`arn:aws:iam::${MEMBER}:role/ir-forensics/ir-forensics-ir`], FORENSIC) }),
        }));
        const c = (await member.sts.send(new AssumeRoleCommand({ RoleArn: role?.Arn, RoleSessionName: "engine" }))).Credentials;
        responder = new IAMClient({
            endpoint: moto().endpoint, region: DEFAULT_REGION,
            credentials: { accessKeyId: c?.AccessKeyId ?? "", secretAccessKey: c?.SecretAccessKey ?? "", sessionToken: c?.SessionToken },
        });
    });
    after(() => {
        Object.values(member ?? {}).forEach((client) => client.destroy());
        responder?.destroy();
    });

    describe("the strict layer refuses what IAM refuses", () => {
        it("the old design (one ARN per instance in one inline policy) hits LimitExceeded: measured where", async () => {
            const role = await workloadRole();
            const old = (n: number) => doc({
                Sid: "IrForensicsRevokedInstances", Effect: "Deny", Action: "*", Resource: "*",
                Condition: { ArnEquals: { "ec2:SourceInstanceARN": Array.from({ length: n }, (_, i) => arnOf(`i-${String(i).padStart(17, "0")}`)) } },
            });
            const app = policySize(doc({ Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" }));
            let fits = 0;
            while (policySize(old(fits + 1)) + app <= QUOTAS.inlinePerRole) {
                fits++;
            }
            await responder.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: REVOCATION_POLICY, PolicyDocument: old(fits) }));
            const refused = await refusal(responder.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: REVOCATION_POLICY, PolicyDocument: old(fits + 1) })));
            assert.match(refused.name, /^LimitExceeded/);
            assert.strictEqual(refused.message, `Maximum policy size of 10240 bytes exceeded for role ${role}`);
            console.log(`      old design: ${fits} instances per role at most (with a ${app}-character app policy beside it)`);
            assert.ok(fits > 100 && fits < 160, `${fits}`);
            // White space does not count.
            await responder.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: REVOCATION_POLICY, PolicyDocument: JSON.stringify(JSON.parse(old(fits)), null, 4) }));
        });

        it("a managed policy over 6,144 characters (CreatePolicy and CreatePolicyVersion), an 11th attached policy, a 6th version", async () => {
            const big = (n: number) => doc({ Effect: "Allow", Action: "s3:GetObject", Resource: Array.from({ length: n }, (_, i) => `arn:aws:s3:::b-${String(i).padStart(8, "0")}/*`) });
            let n = 0;
            while (policySize(big(n + 1)) <= QUOTAS.managedPolicy) {
                n++;
            }
            const created = await member.iam.send(new CreatePolicyCommand({ PolicyName: `quota-${run}`, PolicyDocument: big(n) }));
            const arn = created.Policy?.Arn ?? "";
            for (const r of [
                await refusal(member.iam.send(new CreatePolicyCommand({ PolicyName: `quota-${run}-over`, PolicyDocument: big(n + 1) }))),
                await refusal(member.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: big(n + 1), SetAsDefault: true }))),
            ]) {
                assert.match(r.name, /^LimitExceeded/);
                assert.strictEqual(r.message, "Cannot exceed quota for PolicySize: 6144");
            }
            for (let v = 2; v <= 5; v++) {
                await member.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: big(v), SetAsDefault: true }));
            }
            const sixth = await refusal(member.iam.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: big(6), SetAsDefault: true })));
            assert.match(sixth.name, /^LimitExceeded/);
            assert.match(sixth.message, /up to 5 versions/);

            const role = await workloadRole({ attached: 10 });
            const eleventh = await refusal(member.iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: arn })));
            assert.match(eleventh.name, /^LimitExceeded/);
            assert.strictEqual(eleventh.message, "Cannot exceed quota for PoliciesPerRole: 10");
            // Attaching one that is attached already is no new attachment.
            const first = (await member.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role }))).AttachedPolicies?.[0]?.PolicyArn;
            await member.iam.send(new AttachRolePolicyCommand({ RoleName: role, PolicyArn: first }));
        });
    });

    describe("1,000 contained instances on one shared role", () => {
        let role: string;
        const ids: string[] = [];
        let real: { revoked: string; bystander: string };

        before(async function () {
            // The fleet's role already carries two managed policies of its own.
            role = await workloadRole({ attached: 2 });
            await member.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: role }));
            await member.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: role, RoleName: role }));
            const launch = async () => (await member.ec2.send(new RunInstancesCommand({
                ImageId: "ami-04681a1dbd79675a5", InstanceType: "t3.micro", MinCount: 1, MaxCount: 1, IamInstanceProfile: { Name: role },
            }))).Instances?.[0]?.InstanceId ?? "";
            const [revoked, bystander] = [await launch(), await launch()];
            real = { revoked, bystander };
            for (let i = 0; i < 999; i++) {
                ids.push(newId());
            }
            ids.push(revoked);
        });

        it("every one is revoked, through the real IAM calls of the responder, and the role stays within the quotas", async () => {
            // 970 in batches of 50 (one write per policy a batch touches), the last 30 one at a time as containment adds them.
            const started = Date.now();
            for (let i = 0; i < 970; i += 50) {
                const batch = ids.slice(i, Math.min(i + 50, 970));
                assert.deepStrictEqual((await addRevokedInstances(responder, role, batch.map(arnOf), 0)).sort(), [...batch].sort());
            }
            const batched = (Date.now() - started) / 1000;
            for (const id of ids.slice(970)) {
                assert.strictEqual(await addRevokedInstance(responder, role, arnOf(id), 0), "ok");
            }
            const seconds = (Date.now() - started) / 1000;
            console.log(`      970 in batches: ${batched.toFixed(1)} s; 30 one by one: ${(seconds - batched).toFixed(1)} s`);
            const slots = await revocationSlots(responder, role);
            const count = (s: (typeof slots)[number]) => s.groups.reduce((n, g) => n + g.ids.length, 0);
            console.log(`      1,000 revocations in ${seconds.toFixed(1)} s: ${slots.map((s) => `${s.kind} ${s.name} ${count(s)} entries `
                + `${policySize(revocationPolicy(s.groups))}/${s.quota} chars`).join("; ")}`);
            assert.deepStrictEqual(slots.flatMap((s) => s.groups.flatMap((g) => g.ids)).sort(), [...ids].sort(), "each listed exactly once");

            // Within IAM's quotas (the layer would have refused otherwise; checked here on what IAM holds).
            const inline = await Promise.all(["app", REVOCATION_POLICY].map(async (name) =>
                policySize(decodeURIComponent((await member.iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: name }))).PolicyDocument ?? ""))));
            assert.ok(inline[0] + inline[1] <= QUOTAS.inlinePerRole, `inline ${inline.join(" + ")}`);
            const attached = (await member.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role }))).AttachedPolicies ?? [];
            assert.ok(attached.length <= QUOTAS.attachedPerRole);
            const managed = slots.filter((s) => s.kind === "managed");
            assert.ok(managed.length >= 2 && managed.length <= 4, `${managed.length} managed policies`);
            for (const s of managed) {
                assert.ok(s.arn?.includes(`:policy${REVOCATION_POLICY_PATH}`), s.arn);
                assert.ok(policySize(revocationPolicy(s.groups)) <= QUOTAS.managedPolicy);
                const versions = (await member.iam.send(new ListPolicyVersionsCommand({ PolicyArn: s.arn }))).Versions ?? [];
                assert.ok(versions.length <= QUOTAS.versionsPerPolicy);
            }
            assert.ok(count(slots[0]) >= 430, `inline holds ${count(slots[0])}`);
            assert.ok(managed.slice(0, -1).every((s) => count(s) >= 250), "each full managed policy holds 250 or more");
            assert.ok(seconds < 150, `${seconds} s`);
        });

        it("each revoked instance's credentials of the role are denied, an unrevoked instance sharing the role keeps working", async () => {
            const denied = await Promise.all(ids.map(async (id) => !(await allowed(role, id))));
            assert.strictEqual(denied.filter(Boolean).length, 1000);
            for (let i = 0; i < 20; i++) {
                assert.ok(await allowed(role, newId()), "an unrevoked instance of the role");
            }
            // The real instances, with the credentials an attacker takes from IMDS, through the layer.
            const call = async (id: string) => {
                const ec2 = new EC2Client({ endpoint: moto().endpoint, region: DEFAULT_REGION, credentials: await moto().layer.instanceCredentials(MEMBER, DEFAULT_REGION, id) });
                try {
                    return await ec2.send(new DescribeInstancesCommand({})).then(() => "allowed", (err: Error) => err.name);
                } finally {
                    ec2.destroy();
                }
            };
            assert.strictEqual(await call(real.revoked), "UnauthorizedOperation");
            assert.strictEqual(await call(real.bystander), "allowed");
            assert.strictEqual(await isInstanceRevoked(responder, role, arnOf(real.revoked)), true);
            assert.strictEqual(await isInstanceRevoked(responder, role, arnOf(real.bystander)), false);
            assert.strictEqual(await addRevokedInstance(responder, role, arnOf(real.revoked), 0), "noop");
        });

        it("release lifts exactly one instance (in the inline policy or a managed one); a second release is a no-op", async () => {
            const before = (await revocationSlots(responder, role)).flatMap((s) => s.groups.flatMap((g) => g.ids));
            for (const id of [ids[3], real.revoked]) {
                assert.strictEqual(await removeRevokedInstance(responder, role, arnOf(id), 0), "ok");
                assert.strictEqual(await removeRevokedInstance(responder, role, arnOf(id), 0), "noop");
                assert.ok(await allowed(role, id));
            }
            const after = (await revocationSlots(responder, role)).flatMap((s) => s.groups.flatMap((g) => g.ids));
            assert.deepStrictEqual(after.sort(), before.filter((id) => id !== ids[3] && id !== real.revoked).sort());
            assert.ok(!(await allowed(role, ids[4])));
        });
    });

    describe("pruning: a group goes once every credential issued before its revocation has expired", () => {
        it("groups by hour; when the role is full, only expired groups are dropped; with none expired it fails closed", async () => {
            // No attachment slot left and little inline room: the role fills after a few dozen entries.
            const role = await workloadRole({ attached: 10, padding: 9_500 });
            const early = Array.from({ length: 5 }, newId);
            for (const id of early) {
                await addRevokedInstance(responder, role, arnOf(id), 0, at("2026-11-23T01:10:00Z"));
            }
            const later: string[] = [];
            for (;;) {
                const id = newId();
                try {
                    await addRevokedInstance(responder, role, arnOf(id), 0, at("2026-11-23T04:20:00Z"));
                    later.push(id);
                } catch (err) {
                    assert.match((err as Error).message, /no room to revoke .* none prunable yet/);
                    break;
                }
                assert.ok(later.length < 100, "the role never filled");
            }
            const full = await revocationSlots(responder, role);
            assert.deepStrictEqual(full.map((s) => s.kind), ["inline"]);
            assert.deepStrictEqual(full[0].groups.map((g) => g.hour), ["2026112301", "2026112304"]);
            // 01:xx revocations: credentials issued up to 02:00 live until 08:00; one more hour of slack.
            assert.strictEqual(groupExpired("2026112301", new Date("2026-11-23T08:59:59Z")), false);
            assert.strictEqual(groupExpired("2026112301", new Date("2026-11-23T09:00:00Z")), true);
            assert.strictEqual(await pruneRevokedInstances(responder, role, at("2026-11-23T08:59:00Z")), 0);

            const late = newId();
            assert.strictEqual(await addRevokedInstance(responder, role, arnOf(late), 0, at("2026-11-23T09:05:00Z")), "ok");
            const slots = await revocationSlots(responder, role);
            assert.deepStrictEqual(slots[0].groups.map((g) => g.hour), ["2026112304", "2026112309"]);
            assert.deepStrictEqual(slots[0].groups[0].ids.sort(), [...later].sort(), "the unexpired group is kept whole");
            for (const id of early) {
                assert.ok(await allowed(role, id), "pruned: no credential of the role issued before its revocation is valid any more");
            }
            for (const id of [...later, late]) {
                assert.ok(!(await allowed(role, id)));
            }
        });

        it("a containment that runs again moves its instance out of a prunable group, so it is not pruned while containment retries", async () => {
            const role = await workloadRole();
            const id = newId();
            await addRevokedInstance(responder, role, arnOf(id), 0, at("2026-11-23T01:10:00Z"));
            assert.strictEqual(await addRevokedInstance(responder, role, arnOf(id), 0, at("2026-11-23T05:00:00Z")), "noop");
            assert.strictEqual(await addRevokedInstance(responder, role, arnOf(id), 0, at("2026-11-23T10:00:00Z")), "ok");
            const groups = (await revocationSlots(responder, role))[0].groups;
            assert.deepStrictEqual(groups, [{ hour: "2026112310", ids: [id] }]);
        });
    });

    describe("concurrent writers of one role, serialised by the case table's lease (as containment and release run)", function () {
        const table = `irf-cases-${run}`;
        let dynamodb: DynamoDBClient;
        const exclusive = { exclusive: <T>(lease: string, fn: () => Promise<T>) => withLease(dynamodb, table, lease, fn) };

        before(async () => {
            dynamodb = clientsFor(moto().endpoint, SECURITY).dynamodb;
            await dynamodb.send(new CreateTableCommand({
                TableName: table, BillingMode: "PAY_PER_REQUEST",
                KeySchema: [{ AttributeName: "instanceKey", KeyType: "HASH" }], AttributeDefinitions: [{ AttributeName: "instanceKey", AttributeType: "S" }],
            }));
        });

        it("concurrent adders and removers lose no entry", async () => {
            const role = await workloadRole();
            const many = Array.from({ length: 8 }, newId);
            const outcomes = await Promise.all(many.map((id) => addRevokedInstance(responder, role, arnOf(id), 150, exclusive)));
            assert.deepStrictEqual(outcomes, many.map(() => "ok"));
            const listed = (await revocationSlots(responder, role)).flatMap((s) => s.groups.flatMap((g) => g.ids));
            assert.deepStrictEqual(listed.sort(), [...many].sort());
            const removed = await Promise.all(many.slice(0, 4).map((id) => removeRevokedInstance(responder, role, arnOf(id), 150, exclusive)));
            assert.deepStrictEqual(removed, ["ok", "ok", "ok", "ok"]);
            const left = (await revocationSlots(responder, role)).flatMap((s) => s.groups.flatMap((g) => g.ids));
            assert.deepStrictEqual(left.sort(), many.slice(4).sort());
        });

        it("many cases revoking one role at once are batched: every entry held, far fewer writes than cases, a failed batch retried by the next holder", async () => {
            const role = await workloadRole();
            const many = Array.from({ length: 24 }, newId);
            let batches = 0;
            let failNext = true;
            const batched = {
                batched: (lease: string, item: string, fn: (items: string[]) => Promise<void>) => withBatchedLease(dynamodb, table, lease, item, async (items) => {
                    batches++;
                    if (failNext) {
                        // The first holder's batch fails (IAM throttled it past its retries): its items stay queued.
                        failNext = false;
                        throw new Error("Throttling: Rate exceeded");
                    }
                    await fn(items);
                }),
            };
            const outcomes = await Promise.allSettled(many.map((id) => addRevokedInstance(responder, role, arnOf(id), 150, batched)));
            const failed = outcomes.filter((o) => o.status === "rejected");
            assert.strictEqual(failed.length, 1, "only the holder of the failed batch sees its failure");
            assert.match(String((failed[0] as PromiseRejectedResult).reason), /Rate exceeded/);
            const listed = (await revocationSlots(responder, role)).flatMap((s) => s.groups.flatMap((g) => g.ids));
            assert.deepStrictEqual(listed.sort(), [...many].sort(), "every instance denied, the failed holder's included");
            assert.ok(batches <= 8, `${batches} batches for ${many.length} cases`);
            const queue = await dynamodb.send(new GetItemCommand({ TableName: table, Key: { instanceKey: { S: leaseQueueKey(revocationLeaseName(MEMBER, role)) } }, ConsistentRead: true }));
            assert.deepStrictEqual(queue.Item?.pending?.SS ?? [], [], "nothing left queued");
        });

        it("the lease: one holder at a time, given back after use (also on failure), taken over once its holder's time is up, and a wait that ends says so", async () => {
            const order: string[] = [];
            const hold = (label: string, ms: number) => withLease(dynamodb, table, "test#one", async () => {
                order.push(`${label}+`);
                await new Promise((resolve) => setTimeout(resolve, ms));
                order.push(`${label}-`);
            });
            await Promise.all([hold("a", 200), hold("b", 50), hold("c", 50)]);
            for (let i = 0; i < order.length; i += 2) {
                assert.strictEqual(order[i].slice(0, 1), order[i + 1].slice(0, 1), `interleaved: ${order.join(" ")}`);
            }
            await assert.rejects(withLease(dynamodb, table, "test#one", async () => { throw new Error("step failed"); }), /step failed/);
            assert.strictEqual(await withLease(dynamodb, table, "test#one", async () => "free again", { waitMs: 0 }), "free again");
            // A holder that ran past its lease (a Lambda that timed out): the next writer takes over. The second
            // writer starts once the first holds the lease (not after a guessed delay: a loaded machine is slow).
            let release!: () => void;
            let held!: () => void;
            const holding = new Promise<void>((resolve) => { held = resolve; });
            const leaseMs = 2_000;
            const stuck = withLease(dynamodb, table, "test#two", () => new Promise<void>((resolve) => { release = resolve; held(); }), { leaseMs });
            await holding;
            const heldAt = Date.now();
            await assert.rejects(withLease(dynamodb, table, "test#two", async () => "no", { waitMs: 100 }), /^Error: test#two is busy: another case holds it \(waited 0\.1 s\)$/);
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, heldAt + leaseMs + 100 - Date.now())));
            assert.strictEqual(await withLease(dynamodb, table, "test#two", async () => "taken over", { waitMs: 0 }), "taken over");
            release();
            await stuck;
        });
    });
});
