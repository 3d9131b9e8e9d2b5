/**
 * The drill (npm run drill): a short run (2 instances, the no-ssm fault, then the release scenario) in process, its JSON report checked,
 * and what the mock deploy put into moto read back per account before the drill stops moto; then the CLI as
 * users run it: bad arguments, and Ctrl-C stopping moto.
 */
import * as assert from "assert";
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import { Writable } from "stream";
import { DescribeTableCommand } from "@aws-sdk/client-dynamodb";
import { DescribeSecurityGroupsCommand } from "@aws-sdk/client-ec2";
import { DescribeEventBusCommand, DescribeRuleCommand, ListTargetsByRuleCommand } from "@aws-sdk/client-eventbridge";
import { GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand } from "@aws-sdk/client-iam";
import { DescribeKeyCommand, ListAliasesCommand } from "@aws-sdk/client-kms";
import { GetBucketEncryptionCommand, GetBucketPolicyCommand, GetBucketVersioningCommand, GetObjectLockConfigurationCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
import { DescribeStateMachineCommand } from "@aws-sdk/client-sfn";
import { GetTopicAttributesCommand } from "@aws-sdk/client-sns";
import { GetDocumentCommand, SSMClient } from "@aws-sdk/client-ssm";
import { AccountClients, clientConfig, clientsFor, forAccount } from "../../emulator/aws/aws-clients";
import { DrillReport, parseDrillArgs, Progress, runDrill } from "../../scripts/drill/drill";
import { CreatedResource, DeployedStack, SUPPORTED_TYPES } from "../../emulator/deploy/mock-deploy";
import { PROJECT_ROOT } from "../../emulator/paths";
import { FORENSIC, MEMBER, SECURITY } from "../support/moto";

const DRILL = path.join(PROJECT_ROOT, "scripts", "drill.ts");

function drill(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", DRILL, ...args], {
        cwd: PROJECT_ROOT, env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" }, stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => { stdout += d.toString(); });
    child.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
    const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
    return { child, done };
}

const alive = (pid: number): boolean => {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
};

describe("drill: 2 instances with the no-ssm fault, then released and contained again, in process", function () {
    this.timeout(180_000);
    let report: DrillReport;
    let forensic: DeployedStack;
    let security: DeployedStack;
    /** What moto held at the end of the run, read before the drill stopped it. */
    const seen: Record<string, unknown> = {};

    before("run the drill and look into moto before it stops", async () => {
        const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
        const options = parseDrillArgs(["--instances", "2", "--scenario", "no-ssm,release", "--json"]);
        report = await runDrill(options, new Progress(false, quiet), {
            beforeStop: async (world) => {
                forensic = world.forensic;
                security = world.security;
                await inspect(world.endpoint, seen);
            },
        });
    });

    /** Reads, per account, what the mock deploy should have created. */
    async function inspect(endpoint: string, into: Record<string, unknown>): Promise<void> {
        const c = Object.fromEntries([FORENSIC, SECURITY, MEMBER].map((a) => [a, clientsFor(endpoint, a)])) as Record<string, AccountClients>;
        const ssm = forAccount(new SSMClient(clientConfig(endpoint)), MEMBER);
        try {
            const bucket = String(forensic.outputs.evidenceBucketName);
            const s3 = c[FORENSIC].s3;
            into.forensicBuckets = (await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
            into.securityBuckets = (await c[SECURITY].s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
            into.versioning = (await s3.send(new GetBucketVersioningCommand({ Bucket: bucket }))).Status;
            into.lock = (await s3.send(new GetObjectLockConfigurationCommand({ Bucket: bucket }))).ObjectLockConfiguration;
            into.encryption = (await s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }))).ServerSideEncryptionConfiguration?.Rules?.[0];
            into.policy = JSON.parse((await s3.send(new GetBucketPolicyCommand({ Bucket: bucket }))).Policy ?? "{}");
            into.key = (await c[FORENSIC].kms.send(new DescribeKeyCommand({ KeyId: String(forensic.outputs.evidenceKeyArn) }))).KeyMetadata;
            into.aliases = (await c[FORENSIC].kms.send(new ListAliasesCommand({}))).Aliases?.map((x) => x.TargetKeyId);
            for (const role of ["ir-forensics-responder", "ir-forensics-event-forwarder"]) {
                into[`member-role-${role}`] = (await c[MEMBER].iam.send(new GetRoleCommand({ RoleName: role }))).Role?.Arn;
                into[`security-role-${role}`] = await c[SECURITY].iam.send(new GetRoleCommand({ RoleName: role })).then(() => "exists", (e: Error) => e.name);
            }
            const responder = created("aws:iam/rolePolicy:RolePolicy", MEMBER).find((p) => p.id.startsWith("ir-forensics-responder:"));
            const [roleName, policyName] = (responder?.id ?? ":").split(":");
            into.responderPolicy = (await c[MEMBER].iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }))).PolicyDocument;
            for (const profile of ["ir-forensics-ir-instance", "ir-forensics-contained"]) {
                into[`profile-${profile}`] = (await c[MEMBER].iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profile }))).InstanceProfile?.Roles?.length;
            }
            into.memberRule = (await c[MEMBER].events.send(new DescribeRuleCommand({ Name: "ir-forensics-tag-change" }))).EventPattern;
            into.memberTargets = (await c[MEMBER].events.send(new ListTargetsByRuleCommand({ Rule: "ir-forensics-tag-change" }))).Targets?.map((t) => t.Arn);
            into.documents = await Promise.all(created("aws:ssm/document:Document", MEMBER).filter((d) => d.placement.region === "eu-west-1")
                .map(async (d) => (await ssm.send(new GetDocumentCommand({ Name: d.id }))).Content));
            into.bus = (await c[SECURITY].events.send(new DescribeEventBusCommand({ Name: "ir-forensics" }))).Arn;
            into.table = (await c[SECURITY].dynamodb.send(new DescribeTableCommand({ TableName: String(security.outputs.casesTableName) }))).Table?.TableStatus;
            into.topic = !!(await c[SECURITY].sns.send(new GetTopicAttributesCommand({ TopicArn: String(security.outputs.notificationTopicArn) }))).Attributes;
            into.machine = (await c[SECURITY].sfn.send(new DescribeStateMachineCommand({ stateMachineArn: String(security.outputs.stateMachineArn) }))).definition;
            const groups = created("aws:ec2/securityGroup:SecurityGroup", FORENSIC).map((g) => g.id);
            into.analysisGroups = [groups.length, (await c[FORENSIC].ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: groups }))).SecurityGroups?.length];
        } finally {
            Object.values(c).forEach((clients) => Object.values(clients).forEach((client) => client.destroy()));
            ssm.destroy();
        }
    }

    const created = (type: string, where?: string): CreatedResource[] =>
        [...forensic.created, ...security.created].filter((r) => r.type === type && (!where || r.placement.account === where));

    it("deploys the evidence bucket in the forensic account with its lock, versioning, KMS encryption and policy", () => {
        const bucket = String(forensic.outputs.evidenceBucketName);
        assert.ok((seen.forensicBuckets as string[]).includes(bucket), "not in the forensic account");
        assert.ok(!(seen.securityBuckets as string[]).includes(bucket), "listed in the security account");
        assert.strictEqual(seen.versioning, "Enabled");
        const lock = seen.lock as { ObjectLockEnabled?: string; Rule?: { DefaultRetention?: { Mode?: string; Days?: number } } };
        assert.deepStrictEqual([lock.ObjectLockEnabled, lock.Rule?.DefaultRetention?.Mode, lock.Rule?.DefaultRetention?.Days], ["Enabled", "GOVERNANCE", 90]);
        // moto's own key ARN flowed into the bucket's settings and the stack's outputs.
        const key = seen.key as { Arn?: string; KeyId?: string };
        assert.strictEqual(key.Arn, forensic.outputs.evidenceKeyArn);
        const rule = seen.encryption as { ApplyServerSideEncryptionByDefault?: { SSEAlgorithm?: string; KMSMasterKeyID?: string } };
        assert.deepStrictEqual([rule.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, rule.ApplyServerSideEncryptionByDefault?.KMSMasterKeyID], ["aws:kms", key.Arn]);
        assert.ok((seen.aliases as string[]).includes(key.KeyId as string), "no alias for the evidence key");
        // The policy as written, TLS-only Deny included: the strict layer evaluates it (moto's own check is off).
        const sids = (seen.policy as { Statement: { Sid?: string }[] }).Statement.map((st) => st.Sid);
        assert.ok(sids.includes("DenyInsecureTransport") && sids.includes("DenyReadsByOthers"), sids.join(", "));
        assert.ok(!forensic.adaptations.some((a) => /Deny statements/.test(a)), forensic.adaptations.join("\n"));
    });

    it("deploys the member footprint in the member account through the member provider (roles, policy, profiles, rule, Command document)", () => {
        for (const role of ["ir-forensics-responder", "ir-forensics-event-forwarder"]) {
            assert.match(String(seen[`member-role-${role}`]), new RegExp(`^arn:aws:iam::${MEMBER}:role/ir-forensics/`));
            assert.strictEqual(seen[`security-role-${role}`], "NoSuchEntityException");
        }
        assert.ok(seen.responderPolicy);
        assert.deepStrictEqual([seen["profile-ir-forensics-ir-instance"], seen["profile-ir-forensics-contained"]], [1, 1]);
        assert.match(String(seen.memberRule), /SecurityIncidentStatus/);
        assert.deepStrictEqual(seen.memberTargets, [security.outputs.engineBusArn], "the member rule forwards to the engine bus");
        const documents = seen.documents as string[];
        assert.ok(documents.length > 0, "no Command document in the member account");
        documents.forEach((d) => assert.match(d, /aws:runShellScript/));
    });

    it("deploys the engine in the security account with moto's ARNs in the outputs; Lambda targets routed through SQS", () => {
        assert.strictEqual(seen.bus, security.outputs.engineBusArn);
        assert.strictEqual(seen.table, "ACTIVE");
        assert.strictEqual(seen.topic, true);
        const declared = security.resources.find((r) => r.type === "aws:sfn/stateMachine:StateMachine")?.inputs.definition;
        assert.strictEqual(seen.machine, declared, "moto holds the definition the stack declares");
        const opener = security.routes.find((r) => r.targetArn.endsWith(":function:ir-forensics-engine-open-case"));
        assert.strictEqual(opener?.placement.account, SECURITY, JSON.stringify(security.routes));
        const [declaredGroups, found] = seen.analysisGroups as number[];
        assert.ok(declaredGroups > 0 && found === declaredGroups);
        assert.ok(security.placeholders.some((p) => p.type === "aws:lambda/function:Function"));
        for (const c of [...forensic.created, ...security.created]) {
            assert.ok(SUPPORTED_TYPES.includes(c.type), c.type);
        }
    });

    it("reports every case contained, every artifact verified against the manifest, and the no-ssm fault recorded", () => {
        assert.strictEqual(report.cases.length, 2);
        assert.deepStrictEqual(report.summary.scenarios, ["no-ssm", "release"]);
        assert.deepStrictEqual(report.summary.accounts, { forensic: FORENSIC, security: SECURITY, member: MEMBER, region: "eu-west-1" });
        for (const c of report.cases) {
            assert.strictEqual(c.status, "contained", JSON.stringify(c, null, 1));
            assert.match(c.caseId ?? "", new RegExp(`^${MEMBER}-eu-west-1-${c.instanceId}-`));
            assert.deepStrictEqual(c.timeline.map((t) => t.stage), ["isolated", "memory", "disk", "contained"]);
            const isolated = c.timeline[0];
            assert.strictEqual(isolated.status, "succeeded");
            assert.ok(isolated.calls > 0 && isolated.ms !== null && isolated.ms > 0, JSON.stringify(isolated));
            assert.ok(c.artifacts.some((a) => a.kind === "metadata" && a.verification === "verified"), JSON.stringify(c.artifacts));
            assert.ok(c.artifacts.every((a) => a.verification === "verified" || a.verification === "snapshot-verified"), JSON.stringify(c.artifacts));
            // The disk chain ends in the forensic account: an evidence snapshot, completed, encrypted, tagged with the case.
            assert.strictEqual(c.timeline[2].status, "succeeded", JSON.stringify(c.timeline));
            assert.ok(c.artifacts.some((a) => a.kind === "disk-snapshot" && a.verification === "snapshot-verified" && /^snap-/.test(a.key ?? "")), JSON.stringify(c.artifacts));
            // The fault: the hosts are not managed, so memory is recorded as not acquired, with the reason.
            assert.strictEqual(c.timeline[1].status, "skipped");
            assert.ok(c.failures.some((f) => f.step === "memory" && /no SSM/.test(f.error)), JSON.stringify(c.failures));
        }
        assert.deepStrictEqual([report.summary.ok, report.summary.evidenceIntact, report.summary.missingArtifacts], [true, true, 0]);
        // Every request went through the strict layer, and AWS's rules refused none of the deployed code's.
        assert.strictEqual(report.summary.strict.lenient, false);
        assert.ok(Object.values(report.summary.strict.requests).reduce((a, b) => a + b, 0) > 100);
        assert.deepStrictEqual(report.summary.strict.refused, {}, JSON.stringify(report.summary.strict.refusals, null, 1));
        assert.ok(report.summary.created > 50, String(report.summary.created));
        assert.ok(report.summary.placeholderTypes.includes("aws:lambda/function:Function"));
    });

    it("judges containment from the instance itself: groups, rules, the deny-all profile, the revocation and the tags all hold", () => {
        for (const c of report.cases) {
            assert.deepStrictEqual(c.onInstance, { contained: true, open: [] }, JSON.stringify(c.onInstance));
            assert.strictEqual(c.record, "bucket");
        }
    });

    it("--scenario release: each victim released to exactly its recorded state, then contained again by a new contain case, judged from the instance", () => {
        assert.deepStrictEqual([report.summary.released, report.summary.recontained], [2, 2]);
        for (const c of report.cases) {
            const r = c.release;
            assert.ok(r, JSON.stringify(c));
            assert.deepStrictEqual([r.released, r.restored, r.problems], [true, true, []], JSON.stringify(r));
            // Profile back, both roles' entries lifted, the ENI back in its group, the tag, the registry, the manifest.
            for (const change of ["ec2:ReplaceIamInstanceProfileAssociation", "revocation-lifted", "ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateTags", "registry:markReleased", "s3:PutObject"]) {
                assert.ok(r.changes.some((x) => x.startsWith(change)), `${change}: ${JSON.stringify(r.changes)}`);
            }
            assert.strictEqual(r.changes.filter((x) => x.startsWith("revocation-lifted")).length, 2, JSON.stringify(r.changes));
            assert.ok(r.recontain && r.recontain.caseId !== c.caseId && /-\d{8}T\d{6}Z$/.test(r.recontain.caseId ?? ""), JSON.stringify(r.recontain));
            assert.strictEqual(r.recontain.status, "contained", JSON.stringify(r.recontain));
            assert.deepStrictEqual(r.recontain.onInstance, { contained: true, open: [] });
        }
    });

    it("stopped its moto server", () => {
        assert.strictEqual(report.summary.moto.stopped, true);
        assert.ok(!alive(report.summary.moto.pid), `moto (pid ${report.summary.moto.pid}) still runs`);
    });
});

describe("drill: a victim in another region than the buckets, volumes under a customer-managed key, a VPC with an STS endpoint and NAT (strict)", function () {
    this.timeout(300_000);
    let report: DrillReport;

    before(async () => {
        const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
        const options = parseDrillArgs(["--instances", "1", "--volumes", "2", "--member-region", "us-east-1", "--cmk-volumes", "--endpoints", "--ssm-reregister-seconds", "5", "--json"]);
        report = await runDrill(options, new Progress(false, quiet));
    });

    it("holds every artifact, each verified: the metadata, the whole memory image (after the agent reconnected), an evidence snapshot per volume", () => {
        assert.strictEqual(report.summary.accounts.region, "us-east-1");
        const [c] = report.cases;
        assert.strictEqual(c.status, "contained", JSON.stringify(c, null, 1));
        assert.deepStrictEqual(c.missing, [], JSON.stringify(c.failures, null, 1));
        assert.deepStrictEqual(c.memoryTools, ["lime"]);
        assert.ok(c.artifacts.some((a) => a.kind === "memory" && a.verification === "verified" && a.matchesHostImage), JSON.stringify(c.artifacts));
        assert.strictEqual(c.artifacts.filter((a) => a.kind === "disk-snapshot" && a.verification === "snapshot-verified").length, 2, JSON.stringify(c.artifacts));
        assert.strictEqual(report.summary.ok, true);
    });

    it("the strict layer refused nothing and the victim's network let through every connection acquisition made", () => {
        assert.deepStrictEqual(report.summary.strict.refused, {}, JSON.stringify(report.summary.strict.refusals, null, 1));
        assert.deepStrictEqual(report.summary.refusedConnections, []);
    });
});

describe("drill: victims spread over every member account and region, throttling injected (strict)", function () {
    this.timeout(300_000);
    let report: DrillReport;

    before(async () => {
        const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
        const options = parseDrillArgs(["--instances", "3", "--spread", "--scenario", "throttling", "--ssm-reregister-seconds", "5", "--json"]);
        report = await runDrill(options, new Progress(false, quiet));
    });

    it("one victim in each member account and region, each contained (read from the instance), every artifact verified", () => {
        assert.deepStrictEqual([...new Set(report.cases.map((c) => c.placement))].sort(), [...report.summary.placements].sort());
        assert.strictEqual(report.summary.placements.length, 3, report.summary.placements.join(", "));
        for (const c of report.cases) {
            assert.strictEqual(c.status, "contained", JSON.stringify(c, null, 1));
            assert.deepStrictEqual(c.missing, [], JSON.stringify(c.failures, null, 1));
        }
        assert.ok(report.summary.injectedFaults > 0, "throttling was injected");
        assert.strictEqual(report.summary.ok, true);
    });

    it("no case's session named another case's instance; the strict layer refused nothing; the peaks are measured", () => {
        assert.deepStrictEqual(report.summary.strict.foreignInstance.byOperation, {}, report.summary.strict.foreignInstance.samples.join("\n"));
        assert.deepStrictEqual(report.summary.strict.refused, {}, JSON.stringify(report.summary.strict.refusals, null, 1));
        assert.ok(report.summary.lambdaPeakConcurrency.byFunction["ir-forensics-engine-contain"] >= 1, JSON.stringify(report.summary.lambdaPeakConcurrency));
        assert.ok(report.summary.peakExecutionsPerSecond >= 1);
        assert.ok(Object.keys(report.summary.strict.deployed.signed).some((op) => op.startsWith("ec2:")), "the deployed code's calls are counted");
    });

    it("--spread does not combine with one-placement options", () => {
        assert.throws(() => parseDrillArgs(["--spread", "--asg"]), /--spread .* does not combine with --asg/);
    });
});

describe("drill: npm run drill as a child process", function () {
    this.timeout(120_000);

    it("rejects an unknown scenario with exit code 2, naming the known ones, before starting anything", async () => {
        const { code, stderr } = await drill(["--scenario", "meteor"]).done;
        assert.strictEqual(code, 2);
        assert.match(stderr, /unknown --scenario "meteor"; one of: no-ssm, no-module, kms-denied, throttling, terminated, release/);
        assert.doesNotMatch(stderr, /moto pid/);
    });

    it("the evidence key refuses the engine: contained (read from the instance), the record failure next to it, and a non-zero exit", async function () {
        this.timeout(240_000);
        const { code, stdout } = await drill(["--instances", "1", "--scenario", "kms-denied", "--json"]).done;
        assert.strictEqual(code, 1);
        const report = JSON.parse(stdout);
        assert.strictEqual(report.summary.ok, false, "no evidence could be recorded");
        assert.strictEqual(report.summary.contained, 1);
        const [c] = report.cases;
        assert.strictEqual(c.status, "contained", JSON.stringify(c, null, 1));
        assert.deepStrictEqual(c.onInstance, { contained: true, open: [] });
        // Containment held, so the case's outcome is contained; no manifest could be written, the case table kept the record.
        assert.strictEqual(c.outcome, "contained");
        assert.strictEqual(c.record, "case-table");
        assert.ok(c.failures.some((f: { step: string; error: string }) => f.step === "record" && /no manifest in the evidence bucket.*the case table keeps the record: manifest: AccessDenied/.test(f.error)),
            JSON.stringify(c.failures));
        assert.strictEqual(c.timeline.find((t: { stage: string }) => t.stage === "contained")?.status, "succeeded", JSON.stringify(c.timeline));
    });

    it("stops moto when interrupted (SIGINT) and exits 130", async () => {
        const { child, done } = drill(["--instances", "1", "--json"]);
        let motoPid: number | undefined;
        await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("the drill never started moto")), 60_000);
            child.stderr?.on("data", () => undefined);
            const watch = (d: Buffer) => {
                const pid = /moto pid (\d+)/.exec(d.toString())?.[1];
                if (pid) {
                    motoPid = Number(pid);
                    clearTimeout(timer);
                    resolve();
                }
            };
            child.stderr?.on("data", watch);
        });
        assert.ok(motoPid && alive(motoPid), "moto is not running");
        child.kill("SIGINT");
        const { code } = await done;
        assert.strictEqual(code, 130);
        // Killed on the way out; the kernel may take a moment to let the process go.
        for (let i = 0; i < 50 && alive(motoPid); i++) {
            await new Promise((r) => setTimeout(r, 100));
        }
        assert.ok(!alive(motoPid), `moto (pid ${motoPid}) survived the interrupted drill by 5 s`);
    });
});
