import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BuildNetwork } from "./buildNetwork";
import { managedPolicyArn, policyJson, serviceTrustPolicy } from "../shared/iam";
import { ModuleStoreRef, symbolTableStatements } from "./investigatorAccess";

/** The AWSTOE component document of the SIFT workstation. */
export const SIFT_COMPONENT_DOCUMENT = path.join(__dirname, "..", "..", "imagebuilder", "sift-workstation.yml");

export interface SiftImagePipelineArgs {
    partition: string;
    region: string;
    /** The forensic account. */
    accountId: string;
    /** Only `x86_64`: SIFT's installer and salt states are amd64 only. */
    architecture: "x86_64";
    /** Module store whose `symbols/` the build copies into the image (workstations sync again at boot). */
    moduleStore: ModuleStoreRef;
    /** CIDR of the build VPC and its public subnet. */
    buildCidr: string;
    /** Build and test instance types, tried in order. */
    buildInstanceTypes: string[];
    /** Encrypted gp3 root volume of the image, in GiB. */
    rootVolumeGiB: number;
    /** Image Builder cron expression on which the pipeline looks for newer dependencies. */
    schedule: string;
    /** AMIs (and their snapshots) kept, newest first. */
    keepImages: number;
    /** SSM parameter that receives each new AMI id. */
    amiParameterName: string;
    /** Build logs and the build network's flow logs go to this bucket. */
    logBucket: { name: pulumi.Input<string>; arn: pulumi.Input<string> };
    /** Key prefix of build logs. Default `imagebuilder/sift/`. */
    logPrefix?: string;
    /** Key prefix of the build network's flow logs. Default `flow-logs/`. */
    flowLogPrefix?: string;
    /** Resources the flow log must wait for (the log bucket's policy). */
    flowLogDependsOn?: pulumi.Input<pulumi.Resource>[];
    /** AWSTOE document path. Default `imagebuilder/sift-workstation.yml`. */
    componentDocumentPath?: string;
}

/**
 * `1.0.<n>` from content: Image Builder components and recipes are immutable per version, so a changed
 * document gets a new version (created before the old one is deleted) instead of a failed update.
 */
export function contentVersion(...parts: string[]): string {
    const digest = createHash("sha256").update(parts.join("\n")).digest("hex");
    return `1.0.${parseInt(digest.slice(0, 7), 16)}`;
}

/** The SIFT recipe's name; every content change makes a new version of it. */
const SIFT_RECIPE_NAME = "ir-forensics-sift";

/** Image Builder takes at most this many recipes in a lifecycle policy's selection. */
export const LIFECYCLE_MAX_RECIPES = 50;

/**
 * The recipe versions the lifecycle policy prunes: the current one, then every older version of the recipe
 * still in the account (from their ARNs, `.../image-recipe/<name>/<version>`), at most {@link LIFECYCLE_MAX_RECIPES}.
 */
export function lifecycleRecipeVersions(current: string, recipeName: string, existingArns: string[]): string[] {
    const older = existingArns
        .map((arn) => arn.split(":").slice(5).join(":").split("/"))
        .filter((parts) => parts[0] === "image-recipe" && parts[1] === recipeName && parts[2] !== undefined)
        .map((parts) => parts[2])
        .filter((version) => version !== current);
    const versions = [current, ...[...new Set(older)].sort()];
    if (versions.length > LIFECYCLE_MAX_RECIPES) {
        pulumi.log.warn(`${versions.length - 1} older versions of the ${recipeName} recipe exist; the SIFT lifecycle policy prunes the AMIs ` +
            `of ${LIFECYCLE_MAX_RECIPES - 1} of them. Delete recipe versions whose AMIs are gone (aws imagebuilder delete-image-recipe).`);
    }
    return versions.slice(0, LIFECYCLE_MAX_RECIPES);
}

/**
 * The SIFT workstation image: an AWSTOE component (SIFT in server mode via a pinned, hash-checked cast,
 * Volatility 3, read-only mount tools) on Ubuntu 22.04, built in a public build network without NAT,
 * tested, distributed with its AMI id written to an SSM parameter on every build, rebuilt on a schedule
 * only when the base image or a component has a newer version, and pruned to the newest N AMIs.
 */
export class SiftImagePipeline extends pulumi.ComponentResource {
    public readonly pipelineArn: pulumi.Output<string>;
    public readonly topicArn: pulumi.Output<string>;
    public readonly amiParameterName: string;
    public readonly buildRoleArn: pulumi.Output<string>;
    public readonly buildNetwork: BuildNetwork;

    constructor(name: string, args: SiftImagePipelineArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:SiftImagePipeline", name, {}, opts);
        const parent = { parent: this };
        // Older component and recipe versions stay in the account when a new version replaces them: AMIs of
        // older versions still name them, and the lifecycle policy below selects AMIs by recipe version.
        const retained: pulumi.CustomResourceOptions = { parent: this, retainOnDelete: true };
        const p = args.partition;
        const logPrefix = args.logPrefix ?? "imagebuilder/sift/";

        this.buildNetwork = new BuildNetwork(name, {
            cidr: args.buildCidr,
            flowLogBucketArn: args.logBucket.arn,
            flowLogPrefix: args.flowLogPrefix ?? "flow-logs/",
            flowLogDependsOn: args.flowLogDependsOn,
        }, parent);

        const role = new aws.iam.Role(`${name}-build`, {
            path: "/ir-forensics/image-builder/",
            description: "ir-forensics SIFT image builds: Image Builder agent, build logs, symbol tables",
            assumeRolePolicy: serviceTrustPolicy("ec2.amazonaws.com", args.accountId),
            maxSessionDuration: 3600,
        }, parent);
        // Image Builder drives builds through Systems Manager and its own agent policy.
        for (const policy of ["AmazonSSMManagedInstanceCore", "EC2InstanceProfileForImageBuilder"]) {
            new aws.iam.RolePolicyAttachment(`${name}-build-${policy}`, { role: role.name, policyArn: managedPolicyArn(p, policy) }, parent);
        }
        new aws.iam.RolePolicy(`${name}-build`, {
            role: role.name,
            policy: policyJson([
                {
                    Sid: "WriteBuildLogs",
                    Effect: "Allow",
                    Action: "s3:PutObject",
                    Resource: pulumi.interpolate`${args.logBucket.arn}/${logPrefix}*`,
                },
                ...symbolTableStatements(p, args.region, args.moduleStore),
            ]),
        }, parent);
        const profile = new aws.iam.InstanceProfile(`${name}-build`, { path: "/ir-forensics/image-builder/", role: role.name }, parent);

        const topic = new aws.sns.Topic(`${name}-builds`, {
            name: "ir-forensics-sift-image-builds",
            displayName: "ir-forensics SIFT image builds",
        }, parent);

        const document = fs.readFileSync(args.componentDocumentPath ?? SIFT_COMPONENT_DOCUMENT, "utf8");
        const component = new aws.imagebuilder.Component(`${name}-sift`, {
            name: "ir-forensics-sift-workstation",
            description: "SANS SIFT (server mode), Volatility 3 with module store symbols, read-only evidence mount tools",
            platform: "Linux",
            version: contentVersion(document),
            data: document,
        }, retained);

        const managed = (component: string) => `arn:${p}:imagebuilder:${args.region}:aws:component/${component}/x.x.x`;
        // x.x.x: the newest version of each, which is what lets the schedule see "dependency updates".
        const parentImage = `arn:${p}:imagebuilder:${args.region}:aws:image/ubuntu-server-22-lts-x86/x.x.x`;
        // The provider takes these two flags as strings.
        const rootVolume = { volumeSize: args.rootVolumeGiB, volumeType: "gp3", encrypted: "true", deleteOnTermination: "true" };
        const recipe = new aws.imagebuilder.ImageRecipe(`${name}-sift`, {
            name: SIFT_RECIPE_NAME,
            description: "SANS SIFT analysis workstation on Ubuntu 22.04",
            version: component.version.apply((v) => contentVersion(v, parentImage, JSON.stringify(rootVolume), args.moduleStore.bucketName, args.moduleStore.symbolsPrefix, args.region)),
            parentImage,
            components: [
                { componentArn: managed("update-linux") },
                { componentArn: managed("aws-cli-version-2-linux") },
                {
                    componentArn: component.arn,
                    parameters: [
                        { name: "ModuleStoreBucket", value: args.moduleStore.bucketName },
                        { name: "SymbolsPrefix", value: args.moduleStore.symbolsPrefix },
                        { name: "ModuleStoreRegion", value: args.region },
                    ],
                },
            ],
            blockDeviceMappings: [{ deviceName: "/dev/sda1", ebs: rootVolume }],
            workingDirectory: "/var/tmp",
        }, retained);

        const infrastructure = new aws.imagebuilder.InfrastructureConfiguration(`${name}-build`, {
            name: "ir-forensics-sift-build",
            description: "SIFT builds: public build subnet (no NAT), no ingress, IMDSv2, terminated on failure",
            instanceProfileName: profile.name,
            instanceTypes: args.buildInstanceTypes,
            subnetId: this.buildNetwork.subnetId,
            securityGroupIds: [this.buildNetwork.securityGroupId],
            instanceMetadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 },
            terminateInstanceOnFailure: true,
            snsTopicArn: topic.arn,
            logging: { s3Logs: { s3BucketName: args.logBucket.name, s3KeyPrefix: logPrefix.replace(/\/$/, "") } },
            resourceTags: { Purpose: "ir-forensics-sift-build" },
        }, parent);

        this.amiParameterName = args.amiParameterName;
        const distribution = new aws.imagebuilder.DistributionConfiguration(`${name}-sift`, {
            name: "ir-forensics-sift",
            description: "SIFT AMI in this region; every build writes its AMI id to the SSM parameter",
            distributions: [{
                region: args.region,
                amiDistributionConfiguration: {
                    name: "ir-forensics-sift-{{ imagebuilder:buildDate }}",
                    description: "ir-forensics SANS SIFT analysis workstation",
                    amiTags: { Purpose: "ir-forensics-sift" },
                },
                ssmParameterConfigurations: [{ parameterName: args.amiParameterName, dataType: "aws:ec2:image" }],
            }],
        }, parent);

        const pipeline = new aws.imagebuilder.ImagePipeline(`${name}-sift`, {
            name: "ir-forensics-sift",
            description: "SANS SIFT workstation image, rebuilt when Ubuntu or a component has a newer version",
            imageRecipeArn: recipe.arn,
            infrastructureConfigurationArn: infrastructure.arn,
            distributionConfigurationArn: distribution.arn,
            enhancedImageMetadataEnabled: true,
            imageTestsConfiguration: { imageTestsEnabled: true, timeoutMinutes: 120 },
            schedule: {
                scheduleExpression: args.schedule,
                pipelineExecutionStartCondition: "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE",
            },
            status: "ENABLED",
        }, parent);

        const lifecycleRole = new aws.iam.Role(`${name}-lifecycle`, {
            path: "/ir-forensics/image-builder/",
            description: "ir-forensics: Image Builder deletes SIFT AMIs beyond the newest ones",
            assumeRolePolicy: serviceTrustPolicy("imagebuilder.amazonaws.com", args.accountId),
            maxSessionDuration: 3600,
        }, parent);
        const lifecyclePolicy = new aws.iam.RolePolicyAttachment(`${name}-lifecycle`, {
            role: lifecycleRole.name,
            policyArn: managedPolicyArn(p, "service-role/EC2ImageBuilderLifecycleExecutionPolicy"),
        }, parent);
        const existingRecipes = aws.imagebuilder.getImageRecipesOutput({
            owner: "Self",
            filters: [{ name: "name", values: [SIFT_RECIPE_NAME] }],
        }, { parent: this });
        new aws.imagebuilder.LifecyclePolicy(`${name}-sift`, {
            name: "ir-forensics-sift-keep-newest",
            description: `Keep the ${args.keepImages} newest SIFT AMIs; delete older ones with their snapshots`,
            executionRole: lifecycleRole.arn,
            resourceType: "AMI_IMAGE",
            policyDetails: [{
                action: { type: "DELETE", includeResources: { amis: true, snapshots: true } },
                filter: { type: "COUNT", value: args.keepImages },
            }],
            // Every version this pipeline has built from, so that a recipe change never strands the older AMIs.
            resourceSelection: {
                recipes: pulumi.all([recipe.name, recipe.version, existingRecipes.arns]).apply(([recipeName, version, arns]) =>
                    lifecycleRecipeVersions(version, recipeName, arns).map((semanticVersion) => ({ name: recipeName, semanticVersion }))),
            },
            status: "ENABLED",
        }, { parent: this, dependsOn: [lifecyclePolicy] });

        this.pipelineArn = pipeline.arn;
        this.topicArn = topic.arn;
        this.buildRoleArn = role.arn;
        this.registerOutputs({ pipelineArn: this.pipelineArn, topicArn: this.topicArn, amiParameterName: this.amiParameterName, buildRoleArn: this.buildRoleArn });
    }
}
