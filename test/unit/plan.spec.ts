/**
 * `npm run plan`: both committed stack configs rendered under mocks, their resources listed by type, and
 * the idle cost derived from what was rendered (scripts/plan/prices.ts), including the unpriced report and the
 * awsx VPC priced from its args.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { formatPlan, parseArgs, Plan, planStack, providerName } from "../../scripts/plan/plan";
import { HOURS_PER_MONTH, IDLE_ASSUMPTIONS, idleCost, IdleCost, NO_IDLE_CHARGE, PRICED, PRICES } from "../../scripts/plan/prices";
import { PROJECT_ROOT } from "../support/pulumi";

const cents = (n: number) => Math.round(n * 100);
/** What one interface endpoint costs per AZ per month: $7.30. */
const ENDPOINT_AZ_MONTH = PRICES.interfaceEndpointEniHour * HOURS_PER_MONTH;

function assertTotalIsSum(cost: IdleCost): void {
    assert.ok(cost.lines.length > 0);
    for (const l of cost.lines) {
        assert.ok(Math.abs(l.monthly - l.quantity * l.unitPrice) < 1e-9, `${l.name}: ${l.quantity} × ${l.unitPrice} ≠ ${l.monthly}`);
    }
    assert.strictEqual(cents(cost.totalMonthly), cents(cost.lines.reduce((s, l) => s + l.monthly, 0)));
    assert.ok(Math.abs(Object.values(cost.byProvider).reduce((s, m) => s + m, 0) - cost.totalMonthly) < 0.01 * Object.keys(cost.byProvider).length);
}

function assertListsByType(plan: Plan): void {
    const counted = Object.values(plan.counts).reduce((a, b) => a + b, 0);
    assert.strictEqual(counted, plan.resources.length);
    for (const r of plan.resources) {
        assert.ok(plan.counts[r.type] > 0, `${r.type} not counted`);
    }
    const text = formatPlan(plan);
    for (const r of plan.resources) {
        assert.ok(text.includes(r.name), `${r.name} not printed`);
    }
    assert.match(text, new RegExp(`Total idle: \\$${plan.idleCost.totalMonthly.toFixed(2)} per month`));
}

describe("npm run plan: resources and idle cost", function () {
    let forensic: Plan;

    before(async function () {
        forensic = await planStack("forensic");
    });

    it("forensic (committed config): every resource listed by type with key settings; cost is the sum of the priced lines, nothing unpriced", function () {
        assertListsByType(forensic);
        assertTotalIsSum(forensic.idleCost);
        assert.deepStrictEqual(forensic.idleCost.unpriced, [], "add these types to scripts/plan/prices.ts");
        assert.strictEqual(forensic.counts["aws:kms/key:Key"], 1);
        const key = forensic.idleCost.lines.find((l) => l.type === "aws:kms/key:Key");
        assert.strictEqual(key?.monthly, PRICES.kmsKeyMonth);
        const vpc = forensic.resources.find((r) => r.type === "aws:ec2/vpc:Vpc");
        assert.match(vpc?.settings ?? "", /^10\.66\.0\.0\/16/);
        const kms = forensic.resources.find((r) => r.type === "aws:kms/key:Key");
        assert.match(kms?.settings ?? "", /rotation every 365 d/);
        const bucket = forensic.resources.find((r) => r.type === "aws:s3/bucket:Bucket" && r.name === "evidence-bucket");
        assert.match(bucket?.settings ?? "", /object lock enabled/);
        // eic: no hourly charge anywhere in the stack.
        assert.ok(!forensic.idleCost.lines.some((l) => l.unit === "hours" && l.monthly > 0), JSON.stringify(forensic.idleCost.lines));
    });

    it("ssm access costs endpoints × AZs × $7.30 more than eic", async function () {
        const ssm = await planStack("forensic", { config: { "ir-forensics:analysisNetwork.access": "ssm", "ir-forensics:analysisNetwork.ssmEndpointAzCount": 2 } });
        assertTotalIsSum(ssm.idleCost);
        const enis = ssm.idleCost.lines.filter((l) => l.driver === "interface endpoint ENI-hours");
        assert.deepStrictEqual(enis.map((l) => l.quantity), [2 * HOURS_PER_MONTH, 2 * HOURS_PER_MONTH], "ssm and ssmmessages, 2 AZs each");
        assert.strictEqual(cents(ssm.idleCost.totalMonthly - forensic.idleCost.totalMonthly), cents(2 * 2 * ENDPOINT_AZ_MONTH));
        assert.strictEqual(cents(ENDPOINT_AZ_MONTH), 730);
    });

    it("security (committed config): renders through its StackReference, every resource priced or known free", async function () {
        const plan = await planStack("security");
        assertListsByType(plan);
        assertTotalIsSum(plan.idleCost);
        assert.deepStrictEqual(plan.idleCost.unpriced, [], "add these types to scripts/plan/prices.ts");
        assert.ok(plan.counts["aws:lambda/function:Function"] > 0);
        const fn = plan.resources.find((r) => r.type === "aws:lambda/function:Function");
        assert.match(fn?.settings ?? "", /nodejs22\.x, \d+ MB, timeout \d+ s/);
        // Member footprints are deployed through their own providers, and their lines say so.
        assert.ok(plan.resources.some((r) => /^member-\d{12}-[a-z0-9-]+$/.test(r.provider)), "member providers");
        assert.match(formatPlan(plan), /By provider \(account and region\): .*member-\d{12}-/);
    });

    it("a bad config fails the plan with the key named", async function () {
        await assert.rejects(planStack("forensic", { config: { "ir-forensics:analysisNetwork.subnetCount": 201 } }), /Invalid config ir-forensics:analysisNetwork\.subnetCount/);
    });

    it("a type the price table does not know is reported as unpriced, not counted as free", function () {
        const cost = idleCost([
            { type: "aws:kms/key:Key", name: "k", inputs: { enableKeyRotation: true } },
            { type: "aws:rds/instance:Instance", name: "db", inputs: { instanceClass: "db.t4g.micro" } },
            { type: "awsx:lb:ApplicationLoadBalancer", name: "alb", inputs: {} },
            { type: "aws:dynamodb/table:Table", name: "provisioned", inputs: { billingMode: "PROVISIONED", readCapacity: 5 } },
            { type: "aws:dynamodb/table:Table", name: "on-demand", inputs: { billingMode: "PAY_PER_REQUEST" } },
            { type: "ir-forensics:security:ResponseEngine", name: "engine", inputs: {} },
            { type: "pulumi:providers:aws", name: "p", inputs: {} },
            { type: "aws:ec2/vpcEndpoint:VpcEndpoint", name: "no-subnets-known", inputs: { vpcEndpointType: "Interface", serviceName: "com.amazonaws.eu-west-1.ssm" } },
        ]);
        assert.deepStrictEqual(cost.unpriced.map((u) => u.name), ["db", "alb", "provisioned", "no-subnets-known"]);
        assert.strictEqual(cost.totalMonthly, PRICES.kmsKeyMonth);
        assert.deepStrictEqual(cost.free, { "aws:dynamodb/table:Table": 1 });
        const text = formatPlan({
            stack: "x", configFile: "x", resources: [], counts: {}, idleCost: cost,
            prices: { asOf: "d", region: "r", table: "t", hoursPerMonth: HOURS_PER_MONTH },
        });
        assert.match(text, /UNPRICED \(4\)/);
        assert.match(text, /aws\.rds\.Instance db: not in the price table/);
        assert.match(text, /Total idle: \$1\.00 per month \+ unpriced resources/);
        // No type is both priced and free.
        assert.deepStrictEqual(Object.keys(PRICED).filter((t) => t in NO_IDLE_CHARGE), []);
    });

    it("awsx VPC (opaque under mocks): NAT gateways and their public IPv4 priced from its args and awsx's defaults", function () {
        const month = (inputs: Record<string, unknown>) => idleCost([{ type: "awsx:ec2:Vpc", name: "build", inputs }]).totalMonthly;
        const natAndIp = (PRICES.natGatewayHour + PRICES.publicIpv4Hour) * HOURS_PER_MONTH;
        assert.strictEqual(month({ natGateways: { strategy: "None" }, subnetSpecs: [{ type: "Public" }, { type: "Private" }] }), 0);
        assert.strictEqual(cents(month({})), cents(3 * natAndIp), "awsx default: public and private subnets, one NAT per AZ over 3 AZs");
        assert.strictEqual(cents(month({ natGateways: { strategy: "Single" }, numberOfAvailabilityZones: 2 })), cents(natAndIp));
        assert.strictEqual(month({ subnetSpecs: [{ type: "Isolated" }] }), 0, "no NAT without public and private subnets");
        assert.strictEqual(
            cents(month({ natGateways: { strategy: "None" }, availabilityZoneNames: ["a", "b"], vpcEndpointSpecs: [{ serviceName: "ssm", vpcEndpointType: "Interface" }, { serviceName: "s3" }] })),
            cents(2 * ENDPOINT_AZ_MONTH),
        );
    });

    it("image recipes: AMI snapshot storage from the root volume and the lifecycle policy's count", function () {
        const recipe = { type: "aws:imagebuilder/imageRecipe:ImageRecipe", name: "sift", inputs: { blockDeviceMappings: [{ deviceName: "/dev/sda1", ebs: { volumeSize: 64 } }] } };
        const assumed = idleCost([recipe]);
        assert.ok(assumed.lines[0].quantity > 0 && /assumed/.test(assumed.lines[0].basis));
        const kept = idleCost([recipe, { type: "aws:imagebuilder/lifecyclePolicy:LifecyclePolicy", name: "keep", inputs: { policyDetails: [{ filter: { type: "COUNT", value: 3 } }] } }]);
        assert.strictEqual(kept.lines[0].quantity, 3 * 64);
        assert.strictEqual(cents(kept.totalMonthly), cents(3 * 64 * PRICES.ebsSnapshotGbMonth));
    });

    it("provider names come from the engine's provider references", function () {
        assert.strictEqual(providerName("urn:pulumi:security::ir-forensics::pulumi:providers:aws::member-444455556666-us-east-1::a1b2"), "member-444455556666-us-east-1");
        assert.strictEqual(providerName(""), "");
    });

    it("CLI: --config <file> and --json print a parseable plan (ssm in 1 AZ, AWS Config on)", function () {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "irf-plan-"));
        try {
            const doc = yaml.load(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.forensic.yaml"), "utf8")) as { config: Record<string, Record<string, unknown>> };
            doc.config["ir-forensics:analysisNetwork"].access = "ssm";
            doc.config["ir-forensics:awsConfig"].enabled = true;
            const file = path.join(tmp, "Pulumi.forensic-ssm.yaml");
            fs.writeFileSync(file, yaml.dump(doc));
            const run = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", "scripts/plan.ts", "forensic", "--json", "--config", file], {
                cwd: PROJECT_ROOT, encoding: "utf8", env: { ...process.env, TS_NODE_TRANSPILE_ONLY: "true" },
            });
            assert.strictEqual(run.status, 0, run.stderr);
            const plan = JSON.parse(run.stdout) as Plan;
            assert.strictEqual(plan.configFile, file);
            assertTotalIsSum(plan.idleCost);
            assert.deepStrictEqual(plan.idleCost.unpriced, []);
            const items = plan.idleCost.lines.find((l) => l.driver === "Config items recorded");
            assert.ok(items && items.unitPrice === PRICES.configItem && items.monthly > 0, "the recorder's items are priced");
            assert.strictEqual(
                cents(plan.idleCost.totalMonthly - forensic.idleCost.totalMonthly),
                cents(2 * ENDPOINT_AZ_MONTH + items.monthly),
                "ssm + ssmmessages in 1 AZ, plus the recorder",
            );
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("CLI arguments: one stack, --json, --config <file>; anything else prints the usage", function () {
        assert.deepStrictEqual(parseArgs(["security", "--json"]), { stack: "security", json: true, configPath: undefined });
        assert.deepStrictEqual(parseArgs(["--config", "x.yaml", "forensic"]), { stack: "forensic", json: false, configPath: "x.yaml" });
        for (const bad of [[], ["production"], ["forensic", "security"], ["forensic", "--yaml"], ["forensic", "--config"]]) {
            assert.throws(() => parseArgs(bad), /usage: npm run plan -- forensic\|security/, JSON.stringify(bad));
        }
    });

    describe("one test per price line: a single resource of each priced type costs what the table says", function () {
        const hours = HOURS_PER_MONTH;
        const cents = (n: number) => Math.round(n * 1e6) / 1e6;
        const cases: Array<[string, { type: string; inputs: Record<string, unknown> }[], number]> = [
            ["interface endpoint in 2 AZs: ENI-hours", [{ type: "aws:ec2/vpcEndpoint:VpcEndpoint", inputs: { vpcEndpointType: "Interface", subnetIds: ["a", "b"] } }], 2 * PRICES.interfaceEndpointEniHour * hours],
            ["gateway endpoint: free", [{ type: "aws:ec2/vpcEndpoint:VpcEndpoint", inputs: { vpcEndpointType: "Gateway" } }], 0],
            ["NAT gateway hours", [{ type: "aws:ec2/natGateway:NatGateway", inputs: {} }], PRICES.natGatewayHour * hours],
            ["public IPv4 (Elastic IP) hours", [{ type: "aws:ec2/eip:Eip", inputs: {} }], PRICES.publicIpv4Hour * hours],
            ["KMS customer-managed key", [{ type: "aws:kms/key:Key", inputs: { enableKeyRotation: true } }], PRICES.kmsKeyMonth],
            ["KMS replica key", [{ type: "aws:kms/replicaKey:ReplicaKey", inputs: {} }], PRICES.kmsKeyMonth],
            ["AWS Config items", [{ type: "aws:cfg/recorder:Recorder", inputs: {} }], IDLE_ASSUMPTIONS.configItemsPerMonth * PRICES.configItem],
            ["S3 Standard storage per bucket", [{ type: "aws:s3/bucket:Bucket", inputs: {} }], IDLE_ASSUMPTIONS.s3GbPerBucket * PRICES.s3StandardGbMonth],
            ["CloudTrail data events while idle", [{ type: "aws:cloudtrail/trail:Trail", inputs: {} }], (IDLE_ASSUMPTIONS.dataEventsPerMonth / 100_000) * PRICES.cloudTrailDataEventsPer100k],
            ["CloudWatch Logs storage", [{ type: "aws:cloudwatch/logGroup:LogGroup", inputs: { retentionInDays: 365 } }], IDLE_ASSUMPTIONS.logGroupGb * PRICES.cloudWatchLogsGbMonth],
            ["AMI snapshots: lifecycle count × root volume", [
                { type: "aws:imagebuilder/imageRecipe:ImageRecipe", inputs: { blockDeviceMappings: [{ deviceName: "/dev/sda1", ebs: { volumeSize: 50 } }] } },
                { type: "aws:imagebuilder/lifecyclePolicy:LifecyclePolicy", inputs: { policyDetails: [{ filter: { type: "COUNT", value: 2 } }] } },
            ], 2 * 50 * PRICES.ebsSnapshotGbMonth],
            ["Secrets Manager secret", [{ type: "aws:secretsmanager/secret:Secret", inputs: {} }], PRICES.secretMonth],
            ["SSM advanced parameter", [{ type: "aws:ssm/parameter:Parameter", inputs: { tier: "Advanced" } }], PRICES.advancedParameterMonth],
            ["SSM standard parameter: free", [{ type: "aws:ssm/parameter:Parameter", inputs: {} }], 0],
            ["EC2 Instance Connect Endpoint: free", [{ type: "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint", inputs: {} }], 0],
            ["awsx VPC with one NAT gateway: NAT and its IPv4 hours", [{ type: "awsx:ec2:Vpc", inputs: { natGateways: { strategy: "Single" } } }], (PRICES.natGatewayHour + PRICES.publicIpv4Hour) * hours],
        ];
        for (const [line, resources, expected] of cases) {
            it(line, function () {
                const cost = idleCost(resources.map((r, i) => ({ ...r, name: `r${i}` })) as never);
                assert.deepStrictEqual(cost.unpriced, []);
                assert.strictEqual(cents(cost.lines.reduce((n, l) => n + l.monthly, 0)), cents(expected), "the lines, unrounded");
                assert.strictEqual(cost.totalMonthly, Math.round(expected * 100) / 100, "the total, to the cent");
            });
        }

        it("every priced type has its line above", function () {
            const tested = new Set(cases.flatMap(([, resources]) => resources.map((r) => r.type)).filter((t) => t in PRICED));
            assert.deepStrictEqual(Object.keys(PRICED).filter((t) => !tested.has(t)), []);
        });
    });
});
