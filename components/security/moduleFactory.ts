import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";
import { BUILD_REQUEST_DETAIL_TYPE, BUILD_REQUEST_SOURCE } from "../../functions/shared/buildRequests";
import { BUILDER_TAG, ModuleFactorySettings, moduleBuildHandler, moduleIndexHandler } from "../../functions/factory/moduleBuild";
import { INDEX_KEY } from "../../functions/factory/moduleIndex";
import { engineFunction, EngineFunction } from "../shared/engineFunction";
import { policyJson, serviceTrustPolicy, Statement } from "../shared/iam";
import { denyInsecureTransport, hardenBucket } from "../shared/s3";

/** The builder script, sent to each builder as user data. */
export const BUILDER_SCRIPT = path.join(__dirname, "..", "..", "imagebuilder", "build-modules.sh");

/** IAM path of the factory's roles (builders, launcher, indexer): not responders, so no evidence access. */
export const MODULE_FACTORY_ROLE_PATH = "/ir-forensics/module-factory/";

/** CIDR of a build network the factory creates (public subnets only; nothing else lives there). */
export const BUILD_NETWORK_CIDR = "10.68.0.0/20";

/** Architectures builders run on (EC2's names). */
export type BuildArch = "x86_64" | "arm64";

/** The pinned tools every build uses. */
export interface BuildTools {
    lime: { version: string; repository: string; commit: string };
    dwarf2json: { version: string; repository: string; commit: string };
    avml: { version: string; urls: Record<BuildArch, string>; sha256: Record<BuildArch, string> };
}

/** An existing subnet for builders (it needs a route to the internet: package repositories, git). */
export interface BuilderNetwork {
    subnetId: string;
    /** A group that allows the builder's outbound HTTP(S) and no inbound traffic. */
    securityGroupId: string;
    /** Give builders a public IPv4 address (a public subnet without NAT). */
    publicIp: boolean;
}

/** What the factory builds, where and with what. */
export interface ModuleBuilds {
    /** AMI ids to build LiME modules and Volatility symbols for, by region. */
    amiIds: Record<string, string[]>;
    /** EventBridge Scheduler expression of the refresh that builds kernels published since the last run. */
    schedule: string;
    /** Where builders run, by region; regions without an entry get a build network of their own. */
    networks: Record<string, BuilderNetwork>;
    instanceTypes: Record<BuildArch, string>;
    /** Hard limit of one build; the builder powers off (and so terminates) after it. */
    maxBuildMinutes: number;
    /** Newest kernels a build covers besides the running one. */
    maxKernelsPerBuild: number;
    rootVolumeGiB: number;
    tools: BuildTools;
}

export interface ModuleFactoryArgs {
    partition: string;
    /** Region of the module store (the stack's). */
    region: string;
    /** The security account, owner of the store. */
    accountId: string;
    /** Principals outside this organization are denied every access to the store. */
    organizationId: string;
    /** Name of the store's bucket (`conventions.moduleStoreBucketName`; the forensic stack names it before it exists). */
    bucketName: string;
    /** ArnLike pattern of the engine's roles: they may read `index.json`, `lime/*`, `avml/*` and read and write `sessions/*`. */
    responderRolePattern: string;
    /** The forensic account and the ArnLike pattern of its investigator roles: they may read `symbols/`. */
    investigators: { accountId: pulumi.Input<string>; rolePattern: pulumi.Input<string> };
    /** Key prefix of the symbol tables investigators read (`conventions.SYMBOLS_PREFIX`). */
    symbolsPrefix: string;
    /** IAM path of the factory's own roles (launcher, indexer, builder, scheduler). */
    rolePath: string;
    /** Topic that receives one build report per build (the engine's notification topic). */
    notificationTopicArn: pulumi.Input<string>;
    /** The engine's event bus, where `ModuleBuildRequested` events arrive. */
    engineBusName: pulumi.Input<string>;
    /** AMIs, schedule, networks, instance types, limits and pinned tools. */
    builds: ModuleBuilds;
    /**
     * Providers of the other regions that list AMIs (same account). The home region's resources use the
     * component's own provider. Default: none (every AMI is in the home region).
     */
    regionProviders?: Record<string, aws.Provider>;
    logRetentionDays: number;
}

/** Days after which per-capture session objects (part-URL lists) expire. */
const SESSION_DAYS = 1;
/** Days earlier versions of modules, symbols and the index are kept (a bad build can be rolled back). */
const NONCURRENT_DAYS = 30;

/** Digest of the pinned build tools: a change replaces every build invocation, which rebuilds. */
export function toolsDigest(tools: BuildTools): string {
    const pins = { lime: tools.lime, dwarf2json: tools.dwarf2json };
    return createHash("sha256").update(JSON.stringify(pins)).digest("hex").slice(0, 16);
}

/**
 * The LiME / Volatility 3 module factory and module store, in the security account.
 *
 * The store is a private, versioned, KMS-encrypted bucket (TLS only, public access blocked, organization
 * principals only): `lime/<arch>/<kernel-release>/lime.ko`, `symbols/<arch>/<kernel-release>.json.xz`,
 * `avml/<arch>/avml`, `index.json` (imagebuilder/module-index.schema.json), `builds/<id>/report.json`, and
 * the engine's short-lived `sessions/` (expired after a day). Only the factory's roles may write artifacts.
 *
 * Builds: one `aws.lambda.Invocation` per configured AMI starts the launcher, which runs a short-lived
 * builder instance from that AMI (imagebuilder/build-modules.sh as user data). The invocation's triggers
 * are the AMI, its region and the digest of the pinned tools, so adding an AMI builds only that AMI,
 * changing a pin rebuilds, and removing an AMI leaves its artifacts. A schedule (EventBridge Scheduler)
 * re-runs every AMI's build for kernels published since, and terminates builders past their time limit.
 * The builder uploads its report last; the S3 event runs the indexer, which checks every file's SHA-256,
 * merges index.json (compare-and-swap) and sends the build report to the notification topic.
 *
 * Build requests from the engine: put an event on the engine bus from this account with source
 * `ir-forensics.engine`, detail-type `ModuleBuildRequested` and detail
 * `{arch, kernelRelease, instanceId, region, accountId}`; the rule `buildRequestRule` starts builders from
 * the configured AMIs of that architecture (the suspect's region first) asked for that kernel.
 *
 * Builders run in a network of their own per region (public subnets, no NAT gateway: nothing bills while
 * idle) or in a configured subnet, with outbound HTTP(S) only.
 */
export class ModuleFactory extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    public readonly key: aws.kms.Key;
    public readonly keyArn: pulumi.Output<string>;
    public readonly bucketPolicy: aws.s3.BucketPolicy;
    public readonly builderRole: aws.iam.Role;
    public readonly instanceProfile: aws.iam.InstanceProfile;
    /** The launcher (deploy, schedule, engine requests) and the indexer (build reports, AVML). */
    public readonly buildFunction: EngineFunction;
    public readonly indexFunction: EngineFunction;
    /** Build networks the factory created, by region (regions with a configured subnet have none). */
    public readonly buildNetworks: Record<string, { vpc: awsx.ec2.Vpc; securityGroup: aws.ec2.SecurityGroup }> = {};
    /** One build per configured AMI, keyed `<region>/<ami-id>`. */
    public readonly builds: Record<string, aws.lambda.Invocation> = {};
    public readonly avmlStaging?: aws.lambda.Invocation;
    public readonly schedule?: aws.scheduler.Schedule;
    public readonly buildRequestRule: aws.cloudwatch.EventRule;

    constructor(name: string, args: ModuleFactoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:security:ModuleFactory", name, {}, opts);
        const parent = { parent: this };
        // The store outlives the stack: modules and symbols of past kernels are evidence tooling.
        const keep: pulumi.CustomResourceOptions = { parent: this, retainOnDelete: true, protect: true };
        const p = args.partition;
        const acct = args.accountId;
        const accountRoot = `arn:${p}:iam::${acct}:root`;
        const s3Service = `s3.${args.region}.amazonaws.com`;
        const b = args.builds;

        this.key = new aws.kms.Key(`${name}-key`, {
            description: "ir-forensics module store: LiME modules, AVML, Volatility symbol tables, capture sessions",
            enableKeyRotation: true,
            deletionWindowInDays: 30,
            // In a key policy, "Resource": "*" means this key.
            policy: policyJson([
                { Sid: "AccountAdministration", Effect: "Allow", Principal: { AWS: accountRoot }, Action: "kms:*", Resource: "*" },
                {
                    Sid: "RespondersUseKeyThroughS3",
                    Effect: "Allow",
                    Principal: { AWS: accountRoot },
                    Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    Resource: "*",
                    Condition: { ArnLike: { "aws:PrincipalArn": args.responderRolePattern }, StringEquals: { "kms:ViaService": s3Service } },
                },
                {
                    Sid: "InvestigatorsDecryptSymbolsThroughS3",
                    Effect: "Allow",
                    Principal: { AWS: pulumi.interpolate`arn:${p}:iam::${args.investigators.accountId}:root` },
                    Action: ["kms:Decrypt", "kms:DescribeKey"],
                    Resource: "*",
                    Condition: { ArnLike: { "aws:PrincipalArn": args.investigators.rolePattern }, StringEquals: { "kms:ViaService": s3Service } },
                },
            ]),
        }, keep);
        new aws.kms.Alias(`${name}-key-alias`, { name: "alias/ir-forensics/modules", targetKeyId: this.key.keyId }, parent);

        this.bucket = new aws.s3.Bucket(`${name}-bucket`, { bucket: args.bucketName, forceDestroy: false }, keep);
        const hardening = hardenBucket(`${name}-bucket`, this.bucket, keep, this.key.arn);
        new aws.s3.BucketLifecycleConfiguration(`${name}-lifecycle`, {
            bucket: this.bucket.id,
            rules: [
                {
                    id: "expire-sessions",
                    status: "Enabled",
                    filter: { prefix: "sessions/" },
                    expiration: { days: SESSION_DAYS },
                    noncurrentVersionExpiration: { noncurrentDays: 1 },
                },
                {
                    id: "expire-earlier-versions",
                    status: "Enabled",
                    filter: {},
                    noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_DAYS },
                    abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
                },
            ],
        }, { ...keep, dependsOn: [hardening.versioning] });

        // --- builder: role, profile, networks
        this.builderRole = new aws.iam.Role(`${name}-builder-role`, {
            path: args.rolePath,
            description: "ir-forensics module builder instances: upload modules, symbols and build reports",
            assumeRolePolicy: serviceTrustPolicy("ec2.amazonaws.com", acct),
            maxSessionDuration: 3600,
        }, parent);
        new aws.iam.RolePolicy(`${name}-builder-policy`, {
            role: this.builderRole.name,
            policy: policyJson([
                {
                    Sid: "UploadBuildOutputs",
                    Effect: "Allow",
                    Action: "s3:PutObject",
                    Resource: ["lime/*", "symbols/*", "builds/*"].map((k) => pulumi.interpolate`${this.bucket.arn}/${k}`),
                },
                {
                    Sid: "EncryptThroughS3",
                    Effect: "Allow",
                    Action: "kms:GenerateDataKey",
                    Resource: this.key.arn,
                    Condition: { StringEquals: { "kms:ViaService": s3Service } },
                },
            ]),
        }, parent);
        this.instanceProfile = new aws.iam.InstanceProfile(`${name}-builder-profile`, {
            path: args.rolePath,
            role: this.builderRole.name,
        }, parent);

        const regions = Object.keys(b.amiIds);
        const networks: Record<string, pulumi.Input<ModuleFactorySettings["networks"][string]>> = {};
        for (const region of regions) {
            const configured = b.networks[region];
            if (configured) {
                networks[region] = { subnetIds: [configured.subnetId], securityGroupId: configured.securityGroupId, publicIp: configured.publicIp };
                continue;
            }
            const provider = region === args.region ? undefined : args.regionProviders?.[region];
            if (region !== args.region && !provider) {
                throw new Error(`ModuleFactory: no provider for build region ${region}`);
            }
            const ropts = { parent: this, ...(provider ? { provider } : {}) };
            // Public subnets, no NAT gateway: builders reach package repositories through the internet
            // gateway, and nothing in this network bills while no builder runs.
            const vpc = new awsx.ec2.Vpc(`${name}-network-${region}`, {
                cidrBlock: BUILD_NETWORK_CIDR,
                numberOfAvailabilityZones: 2,
                natGateways: { strategy: "None" },
                subnetStrategy: "Auto",
                subnetSpecs: [{ type: "Public", cidrMask: 24, name: "builders" }],
                enableDnsHostnames: true,
                enableDnsSupport: true,
                tags: { Name: `ir-forensics-module-builds-${region}` },
            }, ropts);
            const securityGroup = new aws.ec2.SecurityGroup(`${name}-builder-sg-${region}`, {
                vpcId: vpc.vpcId,
                description: "ir-forensics module builders: outbound HTTP(S) to package repositories and git, nothing inbound",
                egress: [
                    { description: "HTTPS", protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
                    // Ubuntu and Debian archives (and their ddebs) are served over HTTP, signed by apt keys.
                    { description: "HTTP package archives", protocol: "tcp", fromPort: 80, toPort: 80, cidrBlocks: ["0.0.0.0/0"] },
                ],
                tags: { Name: `ir-forensics-module-builders-${region}` },
            }, ropts);
            this.buildNetworks[region] = { vpc, securityGroup };
            networks[region] = pulumi.all([vpc.publicSubnetIds, securityGroup.id])
                .apply(([subnetIds, securityGroupId]) => ({ subnetIds: subnetIds ?? [], securityGroupId, publicIp: true }));
        }

        // --- functions
        const settings = pulumi.output({
            partition: p,
            bucket: this.bucket.bucket,
            bucketRegion: args.region,
            topicArn: args.notificationTopicArn,
            instanceProfileArn: this.instanceProfile.arn,
            networks,
            amiIds: b.amiIds,
            instanceTypes: b.instanceTypes,
            maxBuildMinutes: b.maxBuildMinutes,
            maxKernelsPerBuild: b.maxKernelsPerBuild,
            rootVolumeGiB: b.rootVolumeGiB,
            tools: b.tools,
        }) as pulumi.Output<ModuleFactorySettings>;
        const common = { settings, logRetentionDays: args.logRetentionDays, rolePath: args.rolePath, accountId: acct, partition: p, region: args.region };
        const object = (k: string) => pulumi.interpolate`${this.bucket.arn}/${k}`;
        const notify: Statement = { Sid: "SendBuildReports", Effect: "Allow", Action: "sns:Publish", Resource: args.notificationTopicArn };
        const script = fs.readFileSync(BUILDER_SCRIPT, "utf8");
        const buildRegions = regions.length > 0 ? regions : [args.region];
        const ec2In = (type: string) => buildRegions.map((r) => `arn:${p}:ec2:${r}:${acct}:${type}`);

        this.buildFunction = engineFunction(`${name}-build`, {
            ...common,
            description: "launches module builders (deploy, schedule, engine requests) and terminates overdue ones",
            timeout: 300,
            callbackFactory: moduleBuildHandler(script),
            statements: [
                {
                    Sid: "LaunchBuildersFromAnyImage",
                    Effect: "Allow",
                    Action: "ec2:RunInstances",
                    // Fleet AMIs may be public, shared or the account's own: images of any owner.
                    Resource: [
                        ...buildRegions.map((r) => `arn:${p}:ec2:${r}::image/*`),
                        ...ec2In("subnet/*"), ...ec2In("security-group/*"), ...ec2In("network-interface/*"), ...ec2In("volume/*"),
                    ],
                },
                {
                    Sid: "LaunchOnlyTaggedBuilders",
                    Effect: "Allow",
                    Action: "ec2:RunInstances",
                    Resource: ec2In("instance/*"),
                    Condition: { StringEquals: { [`aws:RequestTag/${BUILDER_TAG}`]: "true" } },
                },
                {
                    Sid: "TagBuildersAtLaunch",
                    Effect: "Allow",
                    Action: "ec2:CreateTags",
                    Resource: [...ec2In("instance/*"), ...ec2In("volume/*")],
                    Condition: { StringEquals: { "ec2:CreateAction": "RunInstances" } },
                },
                {
                    Sid: "TerminateOverdueBuilders",
                    Effect: "Allow",
                    Action: "ec2:TerminateInstances",
                    Resource: ec2In("instance/*"),
                    Condition: { StringEquals: { [`aws:ResourceTag/${BUILDER_TAG}`]: "true" } },
                },
                {
                    // Describe calls take no resource ARN.
                    Sid: "DescribeImagesAndBuilders",
                    Effect: "Allow",
                    Action: ["ec2:DescribeImages", "ec2:DescribeInstances"],
                    Resource: "*",
                },
                {
                    Sid: "PassBuilderRole",
                    Effect: "Allow",
                    Action: "iam:PassRole",
                    Resource: this.builderRole.arn,
                    Condition: { StringEquals: { "iam:PassedToService": "ec2.amazonaws.com" } },
                },
                { Sid: "ReadIndex", Effect: "Allow", Action: "s3:GetObject", Resource: object(INDEX_KEY) },
                { Sid: "DecryptIndex", Effect: "Allow", Action: "kms:Decrypt", Resource: this.key.arn, Condition: { StringEquals: { "kms:ViaService": s3Service } } },
                notify,
            ],
        }, this);

        this.indexFunction = engineFunction(`${name}-index`, {
            ...common,
            description: "checks build reports and merges them into index.json; stages AVML",
            timeout: 600,
            memorySize: 512,
            callbackFactory: moduleIndexHandler,
            statements: [
                {
                    Sid: "ReadBuildOutputs",
                    Effect: "Allow",
                    Action: "s3:GetObject",
                    Resource: [object("builds/*"), object("lime/*"), object("symbols/*"), object(INDEX_KEY)],
                },
                { Sid: "WriteIndexAndAvml", Effect: "Allow", Action: "s3:PutObject", Resource: [object(INDEX_KEY), object("avml/*")] },
                {
                    Sid: "UseKeyThroughS3",
                    Effect: "Allow",
                    Action: ["kms:Decrypt", "kms:GenerateDataKey"],
                    Resource: this.key.arn,
                    Condition: { StringEquals: { "kms:ViaService": s3Service } },
                },
                notify,
            ],
        }, this);

        // Only the factory writes artifacts; the engine writes sessions/ only.
        const factoryWriters = [this.builderRole.arn, this.buildFunction.role.arn, this.indexFunction.role.arn];
        const bucketArn = this.bucket.arn;
        this.bucketPolicy = new aws.s3.BucketPolicy(`${name}-bucket-policy`, {
            bucket: this.bucket.id,
            policy: policyJson([
                denyInsecureTransport(bucketArn),
                {
                    Sid: "DenyPrincipalsOutsideOrganization",
                    Effect: "Deny",
                    Principal: "*",
                    Action: "s3:*",
                    Resource: [bucketArn, object("*")],
                    Condition: {
                        StringNotEqualsIfExists: { "aws:PrincipalOrgID": args.organizationId },
                        BoolIfExists: { "aws:PrincipalIsAWSService": "false" },
                    },
                },
                {
                    Sid: "DenyArtifactWritesOutsideFactory",
                    Effect: "Deny",
                    Principal: "*",
                    Action: ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"],
                    Resource: [object(INDEX_KEY), object("lime/*"), object("symbols/*"), object("avml/*"), object("builds/*")],
                    Condition: { ArnNotLike: { "aws:PrincipalArn": factoryWriters } },
                },
                {
                    Sid: "RespondersReadModules",
                    Effect: "Allow",
                    Principal: { AWS: accountRoot },
                    Action: "s3:GetObject",
                    Resource: [object(INDEX_KEY), object("lime/*"), object("avml/*")],
                    Condition: { ArnLike: { "aws:PrincipalArn": args.responderRolePattern } },
                },
                {
                    Sid: "RespondersUseSessions",
                    Effect: "Allow",
                    Principal: { AWS: accountRoot },
                    Action: ["s3:GetObject", "s3:PutObject"],
                    Resource: object("sessions/*"),
                    Condition: { ArnLike: { "aws:PrincipalArn": args.responderRolePattern } },
                },
                {
                    Sid: "InvestigatorsReadSymbols",
                    Effect: "Allow",
                    Principal: { AWS: pulumi.interpolate`arn:${p}:iam::${args.investigators.accountId}:root` },
                    Action: "s3:GetObject",
                    Resource: object(`${args.symbolsPrefix}*`),
                    Condition: { ArnLike: { "aws:PrincipalArn": args.investigators.rolePattern } },
                },
                {
                    Sid: "InvestigatorsListSymbols",
                    Effect: "Allow",
                    Principal: { AWS: pulumi.interpolate`arn:${p}:iam::${args.investigators.accountId}:root` },
                    Action: "s3:ListBucket",
                    Resource: bucketArn,
                    Condition: { ArnLike: { "aws:PrincipalArn": args.investigators.rolePattern }, StringLike: { "s3:prefix": `${args.symbolsPrefix}*` } },
                },
            ]),
        }, { ...keep, dependsOn: [hardening.publicAccessBlock] });

        // --- build reports -> indexer
        const fromS3 = new aws.lambda.Permission(`${name}-index-from-s3`, {
            action: "lambda:InvokeFunction",
            function: this.indexFunction.fn.name,
            principal: "s3.amazonaws.com",
            sourceArn: bucketArn,
            sourceAccount: acct,
        }, parent);
        const reportsToIndexer = new aws.s3.BucketNotification(`${name}-build-reports`, {
            bucket: this.bucket.id,
            lambdaFunctions: [{
                lambdaFunctionArn: this.indexFunction.fn.arn,
                events: ["s3:ObjectCreated:*"],
                filterPrefix: "builds/",
                filterSuffix: "/report.json",
            }],
        }, { parent: this, dependsOn: [fromS3] });

        // --- engine requests
        this.buildRequestRule = new aws.cloudwatch.EventRule(`${name}-build-requests`, {
            name: "ir-forensics-module-build-requests",
            eventBusName: args.engineBusName,
            description: "ir-forensics: the engine met a kernel without a LiME module",
            // The bus admits the whole organization: only this account's engine may start builds.
            eventPattern: JSON.stringify({ "source": [BUILD_REQUEST_SOURCE], "detail-type": [BUILD_REQUEST_DETAIL_TYPE], "account": [acct] }),
        }, parent);
        new aws.cloudwatch.EventTarget(`${name}-build-requests`, {
            rule: this.buildRequestRule.name,
            eventBusName: args.engineBusName,
            arn: this.buildFunction.fn.arn,
            retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 3 },
        }, parent);
        new aws.lambda.Permission(`${name}-build-from-events`, {
            action: "lambda:InvokeFunction",
            function: this.buildFunction.fn.name,
            principal: "events.amazonaws.com",
            sourceArn: this.buildRequestRule.arn,
        }, parent);

        // --- one build per configured AMI, and AVML
        const digest = toolsDigest(b.tools);
        for (const [region, ids] of Object.entries(b.amiIds)) {
            for (const amiId of ids) {
                this.builds[`${region}/${amiId}`] = new aws.lambda.Invocation(`${name}-build-${region}-${amiId}`, {
                    functionName: this.buildFunction.fn.name,
                    input: JSON.stringify({ action: "build", amiId, region }),
                    // Replaced (and so run again) when the AMI or a pinned tool changes; removing it keeps the artifacts.
                    triggers: { amiId, region, tools: digest },
                    // A report uploaded before the notification exists would never be indexed.
                }, { parent: this, dependsOn: [reportsToIndexer, this.bucketPolicy] });
            }
        }
        const avml = b.tools.avml;
        if (avml.sha256.x86_64 || avml.sha256.arm64) {
            this.avmlStaging = new aws.lambda.Invocation(`${name}-stage-avml`, {
                functionName: this.indexFunction.fn.name,
                input: JSON.stringify({ action: "stage-avml" }),
                triggers: { version: avml.version, x86_64: avml.sha256.x86_64, arm64: avml.sha256.arm64 },
            }, { parent: this, dependsOn: [this.bucketPolicy, hardening.encryption] });
        }

        if (regions.length > 0) {
            const schedulerRole = new aws.iam.Role(`${name}-schedule-role`, {
                path: args.rolePath,
                description: "ir-forensics module factory refresh schedule",
                assumeRolePolicy: serviceTrustPolicy("scheduler.amazonaws.com", acct),
            }, parent);
            new aws.iam.RolePolicy(`${name}-schedule-policy`, {
                role: schedulerRole.name,
                policy: policyJson([{ Sid: "StartRefresh", Effect: "Allow", Action: "lambda:InvokeFunction", Resource: this.buildFunction.fn.arn }]),
            }, parent);
            this.schedule = new aws.scheduler.Schedule(`${name}-refresh`, {
                name: "ir-forensics-module-refresh",
                description: "ir-forensics: build modules and symbols for kernels published since the last run",
                scheduleExpression: b.schedule,
                flexibleTimeWindow: { mode: "FLEXIBLE", maximumWindowInMinutes: 60 },
                target: {
                    arn: this.buildFunction.fn.arn,
                    roleArn: schedulerRole.arn,
                    input: JSON.stringify({ action: "refresh" }),
                    retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 2 },
                },
            }, parent);
        }

        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;
        this.keyArn = this.key.arn;
        this.registerOutputs({
            bucketName: this.bucketName,
            bucketArn: this.bucketArn,
            keyArn: this.keyArn,
            buildFunctionArn: this.buildFunction.fn.arn,
            buildRequestRuleArn: this.buildRequestRule.arn,
        });
    }
}
