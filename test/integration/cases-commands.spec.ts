/**
 * `npm run cases` against the drill's moto (both stacks deployed, two cases run to containment, victims in an
 * Auto Scaling group and a target group), as a responder role of the security account whose policy is the one
 * docs/runbook.md "Case commands" gives, through the strict layer: list, show and release in text and JSON; release
 * puts back exactly what the case recorded, refuses a running case and a second release, and rejoins and
 * unprotects only when asked; an unknown case, a refused call and missing settings or credentials are one
 * line and exit code 1. Everything runs while the drill's moto runs (its beforeStop hook); the tests read
 * what was captured.
 */
import * as assert from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Writable } from "stream";
import { DescribeAutoScalingInstancesCommand } from "@aws-sdk/client-auto-scaling";
import { DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeIamInstanceProfileAssociationsCommand } from "@aws-sdk/client-ec2";
import { DescribeTargetHealthCommand, DescribeTargetGroupsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { GetObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CaseManifest, CaseSummary, CaseView, ReleasePlan, ReleaseResult, releasePlan } from "../../functions/response/caseCommands";
import { getInstanceRecord } from "../../functions/response/registry";
import { isInstanceRevoked } from "../../functions/response/revocation";
import { DrillReport, parseDrillArgs, Progress, runDrill } from "../../scripts/drill/drill";
import { runCasesCli } from "../../scripts/cases/cases";
import { PROJECT_ROOT } from "../../emulator/paths";
import { MEMBER } from "../support/moto";

interface Run {
    code: number;
    stdout: string;
    stderr: string;
}

describe("cases commands: npm run cases against the drill's moto (list, show, release)", function () {
    this.timeout(300_000);
    let report: DrillReport;
    const runs: Record<string, Run> = {};
    const seen: Record<string, any> = {};
    let a: { caseId: string; instanceId: string };
    let b: { caseId: string; instanceId: string };
    let planA: ReleasePlan;
    let planB: ReleasePlan;
    let running: { caseId?: string; outcome?: string } | undefined;

    before("run the drill, then the case commands while its moto runs", async () => {
        const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
        const options = parseDrillArgs(["--instances", "2", "--scenario", "no-ssm", "--asg", "--target-group", "--json"]);
        report = await runDrill(options, new Progress(false, quiet), {
            beforeStop: async (world) => {
                const session = await world.responder();
                const dir = fs.mkdtempSync(path.join(os.tmpdir(), "irf-cases-"));
                const outputs = path.join(dir, "security.json");
                // What `pulumi stack output --json -s security` gives.
                fs.writeFileSync(outputs, JSON.stringify({ ...world.security.outputs, region: world.accounts.region }));
                const env = {
                    AWS_ACCESS_KEY_ID: session.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: session.credentials.secretAccessKey,
                    AWS_SESSION_TOKEN: session.credentials.sessionToken ?? "", AWS_REGION: world.accounts.region,
                };
                const cli = async (name: string, argv: string[], extraEnv: Record<string, string> = {}) => {
                    let stdout = "";
                    let stderr = "";
                    const code = await runCasesCli([...argv, "--endpoint", world.endpoint, "--stack-outputs", outputs], {
                        env: { ...env, ...extraEnv }, stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; },
                    });
                    runs[name] = { code, stdout, stderr };
                    return runs[name];
                };
                const [first, second] = world.cases;
                a = { caseId: first.caseId as string, instanceId: first.instanceId };
                b = { caseId: second.caseId as string, instanceId: second.instanceId };
                const manifestOf = async (caseId: string) => JSON.parse(await (await session.clients.s3.send(new GetObjectCommand({
                    Bucket: session.config.bucket, Key: `cases/${caseId}/manifest.json`,
                }))).Body?.transformToString() ?? "{}") as CaseManifest;
                planA = releasePlan(await manifestOf(a.caseId), a.instanceId);
                planB = releasePlan(await manifestOf(b.caseId), b.instanceId);

                await cli("list", ["list"]);
                await cli("list-json", ["list", "--json"]);
                await cli("list-since", ["list", "--since", "1h", "--json"]);
                await cli("show", ["show", a.caseId]);
                await cli("show-json", ["show", a.caseId, "--json"]);
                await cli("unknown", ["show", `${MEMBER}-eu-west-1-i-0123456789abcdef0-20200101T000000Z`]);
                await cli("refused", ["list", "--bucket", String(world.security.outputs.moduleStoreBucketName)]);
                await cli("missing-flag", ["show", a.caseId], {});
                runs["missing-flag"] = await (async () => {
                    let stderr = "";
                    const code = await runCasesCli(["show", a.caseId, "--endpoint", world.endpoint], { env, stdout: () => undefined, stderr: (t) => { stderr += t; } });
                    return { code, stdout: "", stderr };
                })();
                await cli("release-no-reason", ["release", a.caseId]);
                await cli("release-a", ["release", a.caseId, "--reason", "false positive: a scheduled scan", "--json"]);
                await cli("release-b", ["release", b.caseId, "--reason", "patched and rebuilt", "--rejoin", "--unprotect"]);
                await cli("release-again", ["release", a.caseId, "--reason", "twice"]);
                await cli("list-open-before", ["list", "--open", "--json"]);

                const m = world.member;
                for (const v of [a, b]) {
                    const instance = (await m.ec2.send(new DescribeInstancesCommand({ InstanceIds: [v.instanceId] }))).Reservations?.[0]?.Instances?.[0];
                    seen[`${v.instanceId}-enis`] = Object.fromEntries((instance?.NetworkInterfaces ?? []).map((e) => [e.NetworkInterfaceId, (e.Groups ?? []).map((g) => g.GroupId)]));
                    seen[`${v.instanceId}-tags`] = Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]));
                    seen[`${v.instanceId}-profile`] = (await m.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: "instance-id", Values: [v.instanceId] }] })))
                        .IamInstanceProfileAssociations?.filter((x) => x.State === "associated").map((x) => x.IamInstanceProfile?.Arn);
                    seen[`${v.instanceId}-termination`] = (await m.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: v.instanceId, Attribute: "disableApiTermination" }))).DisableApiTermination?.Value;
                    seen[`${v.instanceId}-asg`] = (await m.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [v.instanceId] }))).AutoScalingInstances?.[0]?.AutoScalingGroupName ?? null;
                    const revoked: string[] = [];
                    for (const role of (v === a ? planA : planB).revokedRoles) {
                        if (await isInstanceRevoked(m.iam, role, `arn:aws:ec2:${world.accounts.region}:${MEMBER}:instance/${v.instanceId}`)) {
                            revoked.push(role);
                        }
                    }
                    seen[`${v.instanceId}-revoked`] = revoked;
                    seen[`${v.instanceId}-registry`] = await getInstanceRecord(session.clients.dynamodb, session.config.table,
                        { accountId: MEMBER, region: world.accounts.region, instanceId: v.instanceId });
                }
                const tg = (await m.elbv2.send(new DescribeTargetGroupsCommand({ Names: ["drill-web"] }))).TargetGroups?.[0]?.TargetGroupArn;
                seen.targets = ((await m.elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg }))).TargetHealthDescriptions ?? [])
                    .filter((d) => d.TargetHealth?.State !== "draining").map((d) => d.Target?.Id);
                const s3: S3Client = session.clients.s3;
                const key = `cases/${a.caseId}/manifest.json`;
                const object = await s3.send(new GetObjectCommand({ Bucket: session.config.bucket, Key: key }));
                seen.manifestA = JSON.parse(await object.Body?.transformToString() ?? "{}");
                seen.manifestHead = await s3.send(new HeadObjectCommand({ Bucket: session.config.bucket, Key: key }));
                seen.responderArn = session.roleArn;

                // A later Analyze opens a new case, which the opener claims and nobody runs here: it is still acquiring.
                running = await world.openCase(a.instanceId, "Analyze");
                await cli("release-running", ["release", running?.caseId ?? "none", "--reason", "too early"]);
                await cli("list-open", ["list", "--open", "--json"]);
            },
        });
    });

    const parsed = <T>(name: string): T => {
        assert.strictEqual(runs[name]?.code, 0, JSON.stringify(runs[name]));
        return JSON.parse(runs[name].stdout) as T;
    };

    it("list: one line per case (id, instance, account/region, trigger, status, step times, artifacts n/m), and JSON", () => {
        assert.strictEqual(report.cases.filter((c) => c.status === "contained").length, 2, JSON.stringify(report.cases.map((c) => [c.status, c.onInstance])));
        assert.strictEqual(runs.list.code, 0, runs.list.stderr);
        const lines = runs.list.stdout.trim().split("\n");
        for (const v of [a, b]) {
            const line = lines.find((l) => l.startsWith(v.caseId));
            assert.ok(line, runs.list.stdout);
            assert.match(line, new RegExp(`${v.instanceId}  ${MEMBER}/eu-west-1  tag analyze "Analyze"  contained open  isolation \\+[\\d.]+s, .*containment \\+[\\d.]+s.*  artifacts 2/2$`));
        }
        const cases = parsed<CaseSummary[]>("list-json");
        const one = cases.find((c) => c.caseId === a.caseId) as CaseSummary;
        assert.deepStrictEqual([one.instanceId, one.accountId, one.region, one.status, one.open, one.running, one.record], [a.instanceId, MEMBER, "eu-west-1", "contained", true, false, "bucket"]);
        assert.deepStrictEqual(one.artifacts, { evidenced: 2, recorded: 2 });
        assert.ok(one.steps.some((s) => s.step === "isolation" && s.atMs !== null && s.atMs > 0), JSON.stringify(one.steps));
        assert.deepStrictEqual(parsed<CaseSummary[]>("list-since").map((c) => c.caseId).sort(), [a.caseId, b.caseId].sort());
    });

    it("show: the timeline, each artifact with its hash and verification, the failures, the trigger, and the instance as it is now", () => {
        assert.strictEqual(runs.show.code, 0, runs.show.stderr);
        const text = runs.show.stdout;
        assert.match(text, /timeline\n {4}isolation +succeeded/);
        assert.match(text, /metadata +cases\/.+instance-metadata\.json +\d+ B +sha256 [0-9a-f]{64} +verified/);
        assert.match(text, /failures +\d+\n.*memory.*no SSM/);
        assert.match(text, /instance now \(running\): CONTAINED/);
        const view = parsed<CaseView>("show-json");
        assert.strictEqual(view.caseId, a.caseId);
        assert.ok(view.artifactChecks.some((c) => c.kind === "metadata" && c.verification === "verified" && /^[0-9a-f]{64}$/.test(c.sha256 ?? "")), JSON.stringify(view.artifactChecks));
        // The snapshot is the forensic account's: without its credentials it is listed, not checked.
        assert.ok(view.artifactChecks.some((c) => c.kind === "disk-snapshot" && /^unchecked/.test(c.verification)), JSON.stringify(view.artifactChecks));
        assert.deepStrictEqual([view.triggeredBy.source, view.triggeredBy.rawValue], ["tag", "Analyze"]);
        assert.ok(view.failureList.some((f) => f.step === "memory"));
        assert.strictEqual(view.instanceNow?.contained, true, JSON.stringify(view.instanceNow));
        assert.ok(view.instanceNow?.tags.SecurityIncidentStatus === "Contain" && view.instanceNow.profileArn?.endsWith("/ir-forensics-contained"));
        assert.deepStrictEqual(view.instanceNow?.revokedRoles.sort(), planA.revokedRoles.sort());
    });

    it("release: puts back exactly the recorded groups per ENI and profile, lifts the revocation, tags Released, keeps protection and stays out of Auto Scaling and the target group", () => {
        const result = parsed<ReleaseResult>("release-a");
        assert.deepStrictEqual(seen[`${a.instanceId}-enis`], planA.groups);
        assert.ok(planA.profile && /drill-workload-/.test(planA.profile.profileArn), JSON.stringify(planA.profile));
        assert.deepStrictEqual(seen[`${a.instanceId}-profile`], [planA.profile?.profileArn]);
        assert.ok(planA.revokedRoles.length >= 2, JSON.stringify(planA.revokedRoles));
        assert.deepStrictEqual(seen[`${a.instanceId}-revoked`], []);
        assert.strictEqual(seen[`${a.instanceId}-tags`].SecurityIncidentStatus, "Released");
        assert.strictEqual(seen[`${a.instanceId}-termination`], true, "termination protection kept without --unprotect");
        assert.strictEqual(seen[`${a.instanceId}-asg`], null, "not rejoined without --rejoin");
        assert.ok(!seen.targets.includes(a.instanceId), JSON.stringify(seen.targets));
        assert.ok(result.release.kept.some((k) => /not rejoined to Auto Scaling group drill-web/.test(k)), JSON.stringify(result.release.kept));
        // Each change was printed as it was made (stderr with --json), and the instance read back.
        assert.match(runs["release-a"].stderr, /changed: ec2:ReplaceIamInstanceProfileAssociation/);
        assert.match(runs["release-a"].stderr, /changed: revocation-lifted/);
        assert.match(runs["release-a"].stderr, /changed: ec2:ModifyNetworkInterfaceAttribute eni-/);
        assert.strictEqual(result.instanceNow.contained, false);
    });

    it("release writes who released and why into the manifest as a new locked version, and marks the registry released", () => {
        const releases = seen.manifestA.releases;
        assert.strictEqual(releases.length, 1);
        assert.strictEqual(releases[0].status, "released");
        assert.strictEqual(releases[0].reason, "false positive: a scheduled scan");
        assert.match(releases[0].releasedBy.arn, /^arn:aws:sts::\d{12}:assumed-role\/ir-forensics-drill-responder-[0-9a-f]+\/drill-responder$/);
        assert.strictEqual(seen.manifestA.status, "contained", "the case's outcome stays");
        assert.strictEqual(seen.manifestHead.ObjectLockMode, "GOVERNANCE");
        assert.strictEqual(seen.manifestHead.VersionId, parsed<ReleaseResult>("release-a").manifestVersionId);
        const registry = seen[`${a.instanceId}-registry`];
        assert.deepStrictEqual([registry.status, registry.releasedCase, registry.releaseReason], ["released", a.caseId, "false positive: a scheduled scan"]);
    });

    it("release --rejoin --unprotect: back in the Auto Scaling group and the target group, termination protection as it was", () => {
        assert.strictEqual(runs["release-b"].code, 0, runs["release-b"].stderr);
        assert.match(runs["release-b"].stdout, /changed: autoscaling:AttachInstances drill-web/);
        assert.match(runs["release-b"].stdout, /changed: elasticloadbalancing:RegisterTargets arn:aws:elasticloadbalancing:/);
        assert.match(runs["release-b"].stdout, /^released .* patched and rebuilt$/m);
        assert.deepStrictEqual(seen[`${b.instanceId}-enis`], planB.groups);
        assert.strictEqual(seen[`${b.instanceId}-asg`], "drill-web");
        assert.ok(seen.targets.includes(b.instanceId), JSON.stringify(seen.targets));
        assert.strictEqual(seen[`${b.instanceId}-termination`], false);
    });

    it("refuses a case still acquiring, a second release, and a release without a reason; list --open shows the running case", () => {
        assert.strictEqual(running?.outcome, "opened", JSON.stringify(running));
        assert.notStrictEqual(running?.caseId, a.caseId);
        const r = runs["release-running"];
        assert.strictEqual(r.code, 1);
        assert.match(r.stderr, new RegExp(`^cases release ${running?.caseId}: release refused: case ${running?.caseId} is still acquiring \\(registry status running, execution RUNNING\\)`));
        assert.strictEqual(r.stderr.trim().split("\n").length, 1);
        assert.strictEqual(runs["release-again"].code, 1);
        assert.match(runs["release-again"].stderr, /was released already at .* by arn:aws:sts::/);
        assert.strictEqual(runs["release-no-reason"].code, 1);
        assert.match(runs["release-no-reason"].stderr, /release needs --reason/);
        assert.deepStrictEqual(parsed<CaseSummary[]>("list-open-before").map((c) => c.caseId), [], "released cases are not open");
        const open = parsed<CaseSummary[]>("list-open");
        assert.deepStrictEqual(open.map((c) => [c.caseId, c.status]), [[running?.caseId, "running"]]);
    });

    it("an unknown case id, a refused call and a missing setting are one line naming what was asked, exit code 1", () => {
        const unknown = runs.unknown;
        assert.strictEqual(unknown.code, 1);
        assert.match(unknown.stderr, /^cases show \d{12}-eu-west-1-i-0123456789abcdef0-20200101T000000Z: unknown case .*: no manifest at s3:\/\/.+, no record in table ir-forensics-cases, no execution of arn:aws:states:/);
        assert.strictEqual(runs.refused.code, 1);
        assert.match(runs.refused.stderr, /^cases list: s3:ListBucket s3:\/\/ir-forensics-modules-.+\/cases\/: AccessDenied/);
        for (const r of [unknown, runs.refused]) {
            assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr);
        }
        assert.strictEqual(runs["missing-flag"].code, 1);
        assert.match(runs["missing-flag"].stderr, /^missing --table \(or IRF_CASES_TABLE, or casesTableName in --stack-outputs\): show needs it$/m);
    });

    it("npm run cases without credentials: one line naming the call, exit code 1", async () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "irf-nocreds-"));
        const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_")));
        const child = spawn("npm", ["run", "--silent", "cases", "--", "list", "--table", "t", "--bucket", "b", "--region", "eu-west-1"], {
            cwd: PROJECT_ROOT, env: { ...env, HOME: home, AWS_CONFIG_FILE: path.join(home, "none"), AWS_SHARED_CREDENTIALS_FILE: path.join(home, "none"), AWS_EC2_METADATA_DISABLED: "true", NODE_NO_WARNINGS: "1" },
            stdio: ["ignore", "pipe", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (d: Buffer) => { stderr += d.toString(); });
        const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
        assert.strictEqual(code, 1, stderr);
        assert.match(stderr.trim(), /^cases list: s3:ListBucket s3:\/\/b\/cases\/: .*(credentials|Credential)/);
        assert.strictEqual(stderr.trim().split("\n").length, 1, stderr);
    });
});
