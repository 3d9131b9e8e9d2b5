import * as assert from "assert";
import * as aws from "@pulumi/aws";
import { BUILD_NETWORK_CIDR, toolsDigest } from "../../components/security/moduleFactory";
import * as buildRequests from "../../functions/shared/buildRequests";
import { DEFAULTS } from "../../stacks/config";
import { policyProblems } from "../support/iam";
import { asList, one, ofType, policyOf, RecordedResource, RenderedStack, statement } from "../support/pulumi";
import { renderSecurity } from "../support/stacks";

const SECURITY = "222233334444";
const FORENSIC = "111122223333";
const BUCKET = `ir-forensics-modules-${SECURITY}-eu-west-1`;
const AMI_A = "ami-0123456789abcdef0";
const AMI_B = "ami-0fedcba9876543210";
const AMI_C = "ami-11112222";
const AVML_SHA = { x86_64: "a".repeat(64), arm64: "b".repeat(64) };

const rendered = new Map<string, Promise<RenderedStack>>();

/** The security stack with these module factory settings (merged into the committed config); each config rendered once. */
function withFactory(factory: Record<string, unknown>): Promise<RenderedStack> {
    const key = JSON.stringify(factory);
    if (!rendered.has(key)) {
        rendered.set(key, renderSecurity({ config: { "ir-forensics:moduleFactory": factory } }));
    }
    return rendered.get(key)!;
}

const TWO_REGIONS = { amiIds: { "eu-west-1": [AMI_A, AMI_B], "us-east-1": [AMI_C] }, tools: { avml: { sha256: AVML_SHA } } };

function builds(stack: RenderedStack): RecordedResource[] {
    return ofType(stack, aws.lambda.Invocation, /^modules-build-/);
}

function triggersOf(r: RecordedResource): Record<string, string> {
    return typeof r.inputs.triggers === "string" ? JSON.parse(r.inputs.triggers) : r.inputs.triggers;
}

/** The provider resource a resource was deployed with. */
function providerOf(stack: RenderedStack, r: RecordedResource): RecordedResource {
    return one(stack, "pulumi:providers:aws", r.provider.split("::")[3]);
}

describe("module factory (security stack)", () => {
    describe("with no AMI listed (the committed config)", () => {
        let stack: RenderedStack;
        before(async () => {
            stack = await renderSecurity();
        });

        it("creates the module store under the conventional name, versioned, KMS-encrypted with its own key, public access blocked", () => {
            const bucket = one(stack, aws.s3.Bucket, "modules-bucket");
            assert.strictEqual(bucket.inputs.bucket, BUCKET);
            assert.strictEqual(bucket.opts.retainOnDelete, true);
            const key = one(stack, aws.kms.Key, "modules-key");
            // Retained on destroy and protected: dropping the store from the program fails the update.
            assert.deepStrictEqual([bucket.opts.protect, key.opts.protect, key.opts.retainOnDelete], [true, true, true]);
            assert.strictEqual(key.inputs.enableKeyRotation, true);
            const sse = one(stack, aws.s3.BucketServerSideEncryptionConfiguration, "modules-bucket-encryption").inputs.rules[0];
            assert.strictEqual(sse.applyServerSideEncryptionByDefault.sseAlgorithm, "aws:kms");
            assert.strictEqual(sse.applyServerSideEncryptionByDefault.kmsMasterKeyId, key.state.arn);
            assert.strictEqual(one(stack, aws.s3.BucketVersioning, "modules-bucket-versioning").inputs.versioningConfiguration.status, "Enabled");
            const block = one(stack, aws.s3.BucketPublicAccessBlock, "modules-bucket-public-access").inputs;
            assert.deepStrictEqual([block.blockPublicAcls, block.blockPublicPolicy, block.ignorePublicAcls, block.restrictPublicBuckets], [true, true, true, true]);
        });

        it("expires the engine's sessions/ after a day (and their earlier versions), keeps earlier artifact versions 30 days", () => {
            const rules = one(stack, aws.s3.BucketLifecycleConfiguration, "modules-lifecycle").inputs.rules;
            const sessions = rules.find((r: any) => r.id === "expire-sessions");
            assert.deepStrictEqual(sessions.filter, { prefix: "sessions/" });
            assert.deepStrictEqual(sessions.expiration, { days: 1 });
            assert.deepStrictEqual(sessions.noncurrentVersionExpiration, { noncurrentDays: 1 });
            const rest = rules.find((r: any) => r.id === "expire-earlier-versions");
            assert.deepStrictEqual(rest.noncurrentVersionExpiration, { noncurrentDays: 30 });
            assert.strictEqual(rest.expiration, undefined, "current modules never expire");
        });

        it("bucket policy: TLS only, organization only, artifacts written by the factory alone, engine and investigators scoped", () => {
            const doc = policyOf(one(stack, aws.s3.BucketPolicy, "modules-bucket-policy"));
            assert.deepStrictEqual(statement(doc, "DenyInsecureTransport").Condition, { Bool: { "aws:SecureTransport": "false" } });
            assert.deepStrictEqual(statement(doc, "DenyPrincipalsOutsideOrganization").Condition.StringNotEqualsIfExists, { "aws:PrincipalOrgID": "o-a1b2c3d4e5" });
            const writers = statement(doc, "DenyArtifactWritesOutsideFactory");
            assert.strictEqual(writers.Effect, "Deny");
            assert.deepStrictEqual(asList(writers.Resource).map((r: string) => r.split(":::")[1]).sort(),
                [`${BUCKET}/avml/*`, `${BUCKET}/builds/*`, `${BUCKET}/index.json`, `${BUCKET}/lime/*`, `${BUCKET}/symbols/*`]);
            const builder = one(stack, aws.iam.Role, "modules-builder-role");
            assert.ok(asList(writers.Condition.ArnNotLike["aws:PrincipalArn"]).includes(builder.state.arn));
            const engineRoles = `arn:aws:iam::${SECURITY}:role/ir-forensics/responder/*`;
            const read = statement(doc, "RespondersReadModules");
            assert.deepStrictEqual(read.Condition, { ArnLike: { "aws:PrincipalArn": engineRoles } });
            assert.deepStrictEqual(asList(read.Resource).map((r: string) => r.split(":::")[1]).sort(), [`${BUCKET}/avml/*`, `${BUCKET}/index.json`, `${BUCKET}/lime/*`]);
            assert.deepStrictEqual(asList(statement(doc, "RespondersUseSessions").Action).sort(), ["s3:GetObject", "s3:PutObject"]);
            const investigators = `arn:aws:iam::${FORENSIC}:role/ir-forensics/investigator/*`;
            const symbols = statement(doc, "InvestigatorsReadSymbols");
            assert.deepStrictEqual(symbols.Principal, { AWS: `arn:aws:iam::${FORENSIC}:root` });
            assert.deepStrictEqual(symbols.Condition, { ArnLike: { "aws:PrincipalArn": investigators } });
            assert.strictEqual(symbols.Resource, `arn:aws:s3:::${BUCKET}/symbols/*`);
            assert.deepStrictEqual(statement(doc, "InvestigatorsListSymbols").Condition.StringLike, { "s3:prefix": "symbols/*" });
        });

        it("key policy: the account administers, the engine uses the key through S3, investigators decrypt through S3", () => {
            const doc = policyOf(one(stack, aws.kms.Key, "modules-key"));
            const viaS3 = { "kms:ViaService": "s3.eu-west-1.amazonaws.com" };
            const engine = statement(doc, "RespondersUseKeyThroughS3");
            assert.deepStrictEqual(asList(engine.Action).sort(), ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]);
            assert.deepStrictEqual(engine.Condition.StringEquals, viaS3);
            const inv = statement(doc, "InvestigatorsDecryptSymbolsThroughS3");
            assert.deepStrictEqual(inv.Principal, { AWS: `arn:aws:iam::${FORENSIC}:root` });
            assert.deepStrictEqual(inv.Condition.StringEquals, viaS3);
        });

        it("builds nothing and schedules nothing, but accepts the engine's build requests from its own account", () => {
            assert.deepStrictEqual(builds(stack), []);
            assert.deepStrictEqual(ofType(stack, aws.scheduler.Schedule), []);
            assert.deepStrictEqual(ofType(stack, "awsx:ec2:Vpc"), []);
            assert.deepStrictEqual(ofType(stack, aws.lambda.Invocation, "modules-stage-avml"), []);
            const rule = one(stack, aws.cloudwatch.EventRule, "modules-build-requests");
            assert.strictEqual(rule.inputs.eventBusName, "ir-forensics");
            assert.deepStrictEqual(JSON.parse(rule.inputs.eventPattern), {
                "source": ["ir-forensics.engine"], "detail-type": ["ModuleBuildRequested"], "account": [SECURITY],
            });
            // What the engine's memory branch puts on the bus when a host's kernel has no module (its own constants).
            const pattern = JSON.parse(rule.inputs.eventPattern);
            const sent = { "source": buildRequests.BUILD_REQUEST_SOURCE, "detail-type": buildRequests.BUILD_REQUEST_DETAIL_TYPE, "account": SECURITY };
            for (const [field, value] of Object.entries(sent)) {
                assert.ok(pattern[field].includes(value), `${field} ${value} does not match the rule`);
            }
            const target = one(stack, aws.cloudwatch.EventTarget, "modules-build-requests");
            assert.strictEqual(target.inputs.arn, one(stack, aws.lambda.Function, "modules-build").state.arn);
        });

        it("runs the indexer on build reports only", () => {
            const notification = one(stack, aws.s3.BucketNotification, "modules-build-reports").inputs.lambdaFunctions[0];
            assert.strictEqual(notification.filterPrefix, "builds/");
            assert.strictEqual(notification.filterSuffix, "/report.json");
            assert.strictEqual(notification.lambdaFunctionArn, one(stack, aws.lambda.Function, "modules-index").state.arn);
            const permission = one(stack, aws.lambda.Permission, "modules-index-from-s3").inputs;
            assert.strictEqual(permission.sourceAccount, SECURITY);
            assert.strictEqual(permission.sourceArn, `arn:aws:s3:::${BUCKET}`);
        });

        it("exports the store's name, ARN and key for the engine", () => {
            assert.strictEqual(stack.outputs.moduleStoreBucketName, BUCKET);
            assert.strictEqual(stack.outputs.moduleStoreKeyArn, one(stack, aws.kms.Key, "modules-key").state.arn);
            assert.strictEqual(stack.outputs.moduleBuildRequestRuleArn, one(stack, aws.cloudwatch.EventRule, "modules-build-requests").state.arn);
        });

        it("the builder may only upload modules, symbols and reports, with the store's key through S3", () => {
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "modules-builder-policy"));
            assert.deepStrictEqual(doc.Statement.map((s: any) => s.Sid), ["UploadBuildOutputs", "EncryptThroughS3"]);
            assert.deepStrictEqual(asList(statement(doc, "UploadBuildOutputs").Resource).sort(),
                [`arn:aws:s3:::${BUCKET}/builds/*`, `arn:aws:s3:::${BUCKET}/lime/*`, `arn:aws:s3:::${BUCKET}/symbols/*`]);
            const trust = policyOf(one(stack, aws.iam.Role, "modules-builder-role"), "assumeRolePolicy").Statement[0];
            assert.deepStrictEqual(trust.Principal, { Service: "ec2.amazonaws.com" });
            assert.deepStrictEqual(trust.Condition, { StringEquals: { "aws:SourceAccount": SECURITY } });
        });
    });

    describe("with AMIs in two regions", () => {
        const factory = TWO_REGIONS;
        let stack: RenderedStack;
        before(async () => {
            stack = await withFactory(factory);
        });

        it("starts one build per configured AMI, with the AMI, its region and the tools' digest as triggers", () => {
            const found = builds(stack);
            assert.strictEqual(found.length, 3);
            const digest = toolsDigest(DEFAULTS.moduleFactory.tools as never);
            const byAmi = Object.fromEntries(found.map((r) => [JSON.parse(r.inputs.input).amiId, r]));
            for (const [region, ami] of [["eu-west-1", AMI_A], ["eu-west-1", AMI_B], ["us-east-1", AMI_C]]) {
                const r = byAmi[ami];
                assert.ok(r, ami);
                assert.deepStrictEqual(JSON.parse(r.inputs.input), { action: "build", amiId: ami, region });
                assert.deepStrictEqual(triggersOf(r), { amiId: ami, region, tools: digest });
                assert.strictEqual(r.inputs.functionName, "ir-forensics-modules-build");
                const waitsFor = asList(r.opts.dependsOn as never).map((d: { __name?: string }) => d.__name).sort();
                assert.deepStrictEqual(waitsFor, ["modules-bucket-policy", "modules-build-reports"], "a report before the notification would never be indexed");
                // Removing an AMI deletes only this record: the default scope never invokes on delete.
                assert.ok(r.inputs.lifecycleScope === undefined || r.inputs.lifecycleScope === "CREATE_ONLY");
            }
        });

        it("gives each region that lists AMIs a public-only network without NAT, through a provider of that region in this account", () => {
            const vpcs = ofType(stack, "awsx:ec2:Vpc");
            assert.deepStrictEqual(vpcs.map((v) => v.name).sort(), ["modules-network-eu-west-1", "modules-network-us-east-1"]);
            for (const vpc of vpcs) {
                assert.deepStrictEqual(vpc.inputs.natGateways, { strategy: "None" });
                assert.deepStrictEqual(vpc.inputs.subnetSpecs.map((s: any) => s.type), ["Public"]);
                assert.strictEqual(vpc.inputs.cidrBlock, BUILD_NETWORK_CIDR);
            }
            // A remote component takes the aws provider for its children (awsx builds the VPC's resources with it).
            const eastVpcOpts = one(stack, "awsx:ec2:Vpc", "modules-network-us-east-1").opts as { provider?: { __name?: string } };
            assert.strictEqual(eastVpcOpts.provider?.__name, "security-us-east-1");
            const provider = providerOf(stack, one(stack, aws.ec2.SecurityGroup, "modules-builder-sg-us-east-1"));
            assert.strictEqual(provider.name, "security-us-east-1");
            assert.strictEqual(provider.inputs.region, "us-east-1");
            assert.deepStrictEqual(JSON.parse(provider.inputs.allowedAccountIds), [SECURITY]);
            assert.strictEqual(providerOf(stack, one(stack, aws.ec2.SecurityGroup, "modules-builder-sg-eu-west-1")).name, "security");
        });

        it("lets builders out on HTTP and HTTPS only, and in not at all", () => {
            for (const region of ["eu-west-1", "us-east-1"]) {
                const sg = one(stack, aws.ec2.SecurityGroup, `modules-builder-sg-${region}`).inputs;
                assert.deepStrictEqual(sg.ingress ?? [], []);
                assert.deepStrictEqual(sg.egress.map((e: any) => [e.protocol, e.fromPort, e.toPort]).sort(), [["tcp", 443, 443], ["tcp", 80, 80]]);
            }
        });

        it("schedules the daily refresh through a role that may only invoke the launcher", () => {
            const schedule = one(stack, aws.scheduler.Schedule, "modules-refresh").inputs;
            assert.strictEqual(schedule.scheduleExpression, "rate(1 day)");
            assert.strictEqual(schedule.target.arn, one(stack, aws.lambda.Function, "modules-build").state.arn);
            assert.deepStrictEqual(JSON.parse(schedule.target.input), { action: "refresh" });
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "modules-schedule-policy"));
            assert.deepStrictEqual(doc.Statement.map((s: any) => [s.Action, s.Resource]), [["lambda:InvokeFunction", schedule.target.arn]]);
        });

        it("stages AVML once per pinned version and hashes", () => {
            const staging = one(stack, aws.lambda.Invocation, "modules-stage-avml");
            assert.deepStrictEqual(JSON.parse(staging.inputs.input), { action: "stage-avml" });
            assert.deepStrictEqual(triggersOf(staging), { version: DEFAULTS.moduleFactory.tools.avml.version, ...AVML_SHA });
        });

        it("passes the launcher its settings: networks, AMIs, pins, the builder's profile", () => {
            const fn = one(stack, aws.lambda.Function, "modules-build");
            const settings = JSON.parse(fn.inputs.environment.variables.IRF_SETTINGS);
            assert.strictEqual(settings.bucket, BUCKET);
            assert.deepStrictEqual(settings.amiIds, factory.amiIds);
            assert.deepStrictEqual(Object.keys(settings.networks).sort(), ["eu-west-1", "us-east-1"]);
            assert.strictEqual(settings.networks["us-east-1"].publicIp, true);
            assert.strictEqual(settings.instanceProfileArn, one(stack, aws.iam.InstanceProfile, "modules-builder-profile").state.arn);
            assert.strictEqual(settings.tools.lime.commit, DEFAULTS.moduleFactory.tools.lime.commit);
            assert.deepStrictEqual(settings.tools.avml.sha256, AVML_SHA);
            // Lambda allows 4 KB of environment variables in all.
            assert.ok(fn.inputs.environment.variables.IRF_SETTINGS.length < 3500);
        });

        it("lets the launcher start only tagged builders, in the build regions, passing only the builder role", () => {
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "modules-build-policy"));
            const tagged = statement(doc, "LaunchOnlyTaggedBuilders");
            assert.deepStrictEqual(tagged.Condition, { StringEquals: { "aws:RequestTag/ir-forensics:module-builder": "true" } });
            assert.deepStrictEqual(asList(tagged.Resource).sort(), [
                `arn:aws:ec2:eu-west-1:${SECURITY}:instance/*`, `arn:aws:ec2:us-east-1:${SECURITY}:instance/*`,
            ]);
            assert.deepStrictEqual(statement(doc, "TerminateOverdueBuilders").Condition,
                { StringEquals: { "aws:ResourceTag/ir-forensics:module-builder": "true" } });
            const pass = statement(doc, "PassBuilderRole");
            assert.strictEqual(pass.Resource, one(stack, aws.iam.Role, "modules-builder-role").state.arn);
            assert.deepStrictEqual(pass.Condition, { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } });
        });

        it("every factory policy names real actions, grants no '*' action and conditions its trusts", async () => {
            const problems: string[] = [];
            const docs: Array<[RecordedResource, string, Parameters<typeof policyProblems>[1]]> = [
                ...ofType(stack, aws.iam.RolePolicy, /^modules-/).map((r) => [r, "policy", "identity"] as [RecordedResource, string, "identity"]),
                ...ofType(stack, aws.iam.Role, /^modules-/).map((r) => [r, "assumeRolePolicy", "trust"] as [RecordedResource, string, "trust"]),
                [one(stack, aws.s3.BucketPolicy, "modules-bucket-policy"), "policy", "resource"],
                [one(stack, aws.kms.Key, "modules-key"), "policy", "key"],
            ];
            for (const [r, input, kind] of docs) {
                for (const p of await policyProblems(policyOf(r, input), kind)) {
                    problems.push(`${r.name} [${p.sid}]: ${p.problem}`);
                }
            }
            assert.deepStrictEqual(problems, []);
        });
    });

    it("fails the preview on a bad AMI id or an unknown region, naming the key", async () => {
        await assert.rejects(renderSecurity({ config: { "ir-forensics:moduleFactory": { amiIds: { "eu-west-1": ["ami-0123"] } } } }),
            /Invalid config ir-forensics:moduleFactory\.amiIds\["eu-west-1"\]\[0\]: expected an AMI id/);
        await assert.rejects(renderSecurity({ config: { "ir-forensics:moduleFactory": { amiIds: { "us-central-9x": [AMI_A] } } } }),
            /Invalid config ir-forensics:moduleFactory\.amiIds\["us-central-9x"\]: expected an AWS region name/);
    });

    describe("one AMI, a configured subnet, another LiME pin", () => {
        const lime = { commit: "c".repeat(40), version: "1.9.2" };
        let stack: RenderedStack;
        let full: RenderedStack;
        before(async () => {
            full = await withFactory(TWO_REGIONS);
            stack = await withFactory({
                amiIds: { "eu-west-1": [AMI_A] },
                networks: { "eu-west-1": { subnetId: "subnet-0123456789abcdef0", securityGroupId: "sg-0123456789abcdef0" } },
                tools: { lime, avml: { sha256: AVML_SHA } },
            });
        });

        it("a build's identity and triggers depend on its AMI and region only (adding AMIs leaves it alone), and on the pins (changing one rebuilds)", () => {
            const [one_] = builds(stack);
            const same = builds(full).find((r) => r.name === one_.name);
            assert.ok(same, "the same AMI keeps the same resource name in a longer list");
            assert.deepStrictEqual(Object.keys(triggersOf(one_)).sort(), ["amiId", "region", "tools"]);
            assert.strictEqual(triggersOf(one_).amiId, triggersOf(same).amiId);
            assert.strictEqual(triggersOf(one_).tools, toolsDigest({ ...DEFAULTS.moduleFactory.tools, lime: { ...DEFAULTS.moduleFactory.tools.lime, ...lime } } as never));
            assert.notStrictEqual(triggersOf(one_).tools, triggersOf(same).tools);
        });

        it("the tools digest follows LiME and dwarf2json pins, not AVML's", () => {
            const tools = DEFAULTS.moduleFactory.tools as never as Parameters<typeof toolsDigest>[0];
            const base = toolsDigest(tools);
            assert.notStrictEqual(toolsDigest({ ...tools, dwarf2json: { ...tools.dwarf2json, commit: "d".repeat(40) } }), base);
            assert.notStrictEqual(toolsDigest({ ...tools, lime: { ...tools.lime, version: "2.0" } }), base);
            assert.strictEqual(toolsDigest({ ...tools, avml: { ...tools.avml, version: "0.21.0" } }), base);
        });

        it("a configured subnet replaces the region's build network", () => {
            assert.deepStrictEqual(ofType(stack, "awsx:ec2:Vpc"), []);
            assert.deepStrictEqual(ofType(stack, aws.ec2.SecurityGroup, /^modules-/), []);
            const settings = JSON.parse(one(stack, aws.lambda.Function, "modules-build").inputs.environment.variables.IRF_SETTINGS);
            assert.deepStrictEqual(settings.networks, {
                "eu-west-1": { subnetIds: ["subnet-0123456789abcdef0"], securityGroupId: "sg-0123456789abcdef0", publicIp: false },
            });
            assert.strictEqual(settings.tools.lime.commit, lime.commit);
        });
    });
});
