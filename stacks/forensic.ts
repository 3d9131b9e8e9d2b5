/**
 * The forensic account's stack: evidence store, log buckets, investigator roles and the internet-less
 * analysis network. Outputs are read by the security stack through a StackReference.
 */
import * as pulumi from "@pulumi/pulumi";
import { AnalysisNetwork } from "../components/forensic/analysisNetwork";
import { ConfigRecorder } from "../components/forensic/configRecorder";
import { EvidenceCopier } from "../components/forensic/evidenceCopier";
import { EvidenceStore } from "../components/forensic/evidenceStore";
import { InvestigatorAccess } from "../components/forensic/investigatorAccess";
import { LogBucket, LogDelivery } from "../components/forensic/logBucket";
import { SiftImagePipeline } from "../components/forensic/siftImagePipeline";
import { WorkstationLauncher } from "../components/forensic/workstationLauncher";
import { ForensicConfig } from "./config";
import { checkDeployer, deployerArn, PREVIEW_ONLY_ENV } from "./deployer";
import * as conventions from "../components/shared/conventions";
import { homeProvider } from "./providers";

const ACCESS_LOG_PREFIX = "s3-access/evidence/";
const FLOW_LOG_PREFIX = "flow-logs/";
const CONFIG_PREFIX = "config/";
const IMAGE_BUILD_LOG_PREFIX = "imagebuilder/sift/";
/** SSM parameter the SIFT pipeline writes every new AMI id to; the launcher reads it. */
const SIFT_AMI_PARAMETER = "/ir-forensics/sift/ami-id";

export async function forensicStack(config: ForensicConfig) {
    const { partition, region } = config;
    const account = config.accounts.forensic;
    const provider = homeProvider("forensic", config, account);
    const opts = { provider };

    // Before any resource: the identity running this must stay able to update what it is about to protect.
    const caller = await deployerArn(provider);
    checkDeployer(caller, config.evidence.deployRoleArns, config.evidence.breakGlassRoleArn,
        pulumi.runtime.isDryRun() && Boolean(process.env[PREVIEW_ONLY_ENV]));

    const deliveries: LogDelivery[] = [
        { service: "logging.s3.amazonaws.com", prefix: ACCESS_LOG_PREFIX },
        { service: "delivery.logs.amazonaws.com", prefix: FLOW_LOG_PREFIX },
        ...(config.awsConfig.enabled ? [{ service: "config.amazonaws.com" as const, prefix: CONFIG_PREFIX }] : []),
    ];
    const logs = new LogBucket("logs", {
        accountId: account,
        deliveries,
        archiveAfterDays: config.evidence.archiveAfterDays,
        archiveStorageClass: config.evidence.archiveStorageClass,
        retainOnDelete: true,
    }, opts);

    const investigatorPath = conventions.INVESTIGATOR_ROLE_PATH;
    const writerRoleArn = conventions.roleArn(partition, account, investigatorPath, conventions.WORKSTATION_WRITER_ROLE_NAME);
    const evidence = new EvidenceStore("evidence", {
        partition,
        region,
        accountId: account,
        organizationId: config.organizationId,
        objectLock: { mode: config.evidence.objectLockMode, days: config.evidence.objectLockDays },
        archive: {
            afterDays: config.evidence.archiveAfterDays,
            storageClass: config.evidence.archiveStorageClass,
            expireAfterDays: config.evidence.expireAfterDays,
        },
        abortIncompleteUploadsAfterDays: config.evidence.abortIncompleteUploadsAfterDays,
        responderAccountId: config.accounts.security,
        responderRolePattern: conventions.rolePathPattern(partition, config.accounts.security, conventions.RESPONDER_ROLE_PATH),
        readerRolePatterns: [
            conventions.rolePathPattern(partition, account, investigatorPath),
            ...config.evidence.investigatorPrincipalArns,
        ],
        analysisWriterRoleArn: writerRoleArn,
        breakGlassRoleArn: config.evidence.breakGlassRoleArn,
        deployRoleArns: config.evidence.deployRoleArns,
        accessLogs: { bucketName: logs.bucketName, prefix: ACCESS_LOG_PREFIX },
        trail: { name: conventions.EVIDENCE_TRAIL_NAME, managementEvents: config.trail.managementEvents },
    }, { ...opts, dependsOn: [logs] });

    const moduleStore = {
        bucketName: conventions.moduleStoreBucketName(config.accounts.security, region),
        symbolsPrefix: conventions.SYMBOLS_PREFIX,
        accountId: config.accounts.security,
    };
    // The engine's way into this account for disk evidence: copy, tag and lock snapshots, never delete.
    const copier = new EvidenceCopier("evidence-copier", {
        partition,
        accountId: account,
        organizationId: config.organizationId,
        roleName: conventions.EVIDENCE_COPIER_ROLE_NAME,
        rolePath: conventions.EVIDENCE_COPIER_ROLE_PATH,
        responderAccountId: config.accounts.security,
        responderRolePattern: conventions.rolePathPattern(partition, config.accounts.security, conventions.RESPONDER_ROLE_PATH),
        evidenceKeyArn: evidence.keyArn,
        memberKeyAlias: conventions.MEMBER_NAMES.irKeyAlias,
    }, opts);

    const investigators = new InvestigatorAccess("investigator", {
        partition,
        region,
        accountId: account,
        path: investigatorPath,
        readerRoleName: conventions.WORKSTATION_ROLE_NAME,
        writerRoleName: conventions.WORKSTATION_WRITER_ROLE_NAME,
        evidenceBucketArn: evidence.bucketArn,
        evidenceKeyArn: evidence.keyArn,
        analysisPrefix: conventions.ANALYSIS_PREFIX,
        moduleStore,
    }, opts);

    const net = config.analysisNetwork;
    const network = new AnalysisNetwork("analysis", {
        partition,
        region,
        accountId: account,
        cidr: net.cidr,
        subnetCidrs: net.subnetCidrs,
        access: net.access,
        ssmEndpointAzCount: net.ssmEndpointAzCount,
        ssmEc2MessagesEndpoint: net.ssmEc2MessagesEndpoint,
        evidenceBucketArn: evidence.bucketArn,
        moduleStore,
        flowLogBucketArn: logs.bucketArn,
        flowLogPrefix: FLOW_LOG_PREFIX,
        flowLogAggregationSeconds: net.flowLogAggregationSeconds,
        flowLogDependsOn: [logs.policy],
    }, opts);

    const sift = new SiftImagePipeline("sift", {
        partition,
        region,
        accountId: account,
        architecture: config.sift.architecture,
        moduleStore,
        buildCidr: config.sift.buildCidr,
        buildInstanceTypes: config.sift.buildInstanceTypes,
        rootVolumeGiB: config.sift.rootVolumeGiB,
        schedule: config.sift.schedule,
        keepImages: config.sift.keepImages,
        amiParameterName: SIFT_AMI_PARAMETER,
        logBucket: { name: logs.bucketName, arn: logs.bucketArn },
        logPrefix: IMAGE_BUILD_LOG_PREFIX,
        flowLogPrefix: FLOW_LOG_PREFIX,
        flowLogDependsOn: [logs.policy],
    }, opts);

    const launcher = new WorkstationLauncher("workstation", {
        partition,
        region,
        accountId: account,
        evidenceBucketName: evidence.bucketName,
        evidenceBucketArn: evidence.bucketArn,
        evidenceKeyArn: evidence.keyArn,
        casesPrefix: conventions.CASES_PREFIX,
        moduleStore,
        amiParameterName: sift.amiParameterName,
        vpcId: network.vpcId,
        vpcArn: network.vpc.arn,
        workstationSecurityGroupId: network.workstationSecurityGroupId,
        access: net.access,
        instanceConnectEndpointId: network.instanceConnectEndpointId,
        instanceType: config.workstation.instanceType,
        idleStopHours: config.workstation.idleStopHours,
        investigatorPath,
        launchAtCaseEnd: config.workstation.launchAtCaseEnd,
    }, opts);

    if (config.awsConfig.enabled) {
        new ConfigRecorder("config", {
            partition,
            accountId: account,
            deliveryBucketName: logs.bucketName,
            deliveryBucketArn: logs.bucketArn,
            deliveryPrefix: CONFIG_PREFIX,
            dependsOn: [logs.policy],
        }, opts);
    }

    return {
        role: "forensic",
        accountId: account,
        region,
        evidenceBucketName: evidence.bucketName,
        evidenceBucketArn: evidence.bucketArn,
        evidenceKeyArn: evidence.keyArn,
        evidenceTrailArn: evidence.trail.arn,
        evidenceCopierRoleArn: copier.role.arn,
        evidenceTrailBucketName: evidence.trailBucketName,
        logBucketName: logs.bucketName,
        vpcId: network.vpcId,
        subnetIds: network.subnetIds,
        subnetAvailabilityZones: network.subnetAvailabilityZones,
        workstationSecurityGroupId: network.workstationSecurityGroupId,
        accessSecurityGroupId: network.accessSecurityGroupId,
        analysisAccess: net.access,
        ...(net.access === "eic"
            ? { instanceConnectEndpointId: network.instanceConnectEndpointId }
            : { interfaceEndpointIds: network.interfaceEndpointIds, interfaceEndpointSubnetIds: network.interfaceEndpointSubnetIds }),
        workstationRoleArn: investigators.readerRole.arn,
        workstationProfileArn: investigators.readerProfile.arn,
        workstationProfileName: investigators.readerProfile.name,
        workstationWriterRoleArn: investigators.writerRole.arn,
        workstationWriterProfileArn: investigators.writerProfile.arn,
        workstationWriterProfileName: investigators.writerProfile.name,
        siftPipelineArn: sift.pipelineArn,
        siftBuildTopicArn: sift.topicArn,
        siftAmiParameterName: sift.amiParameterName,
        workstationLauncherFunctionName: launcher.functionName,
        workstationLauncherFunctionArn: launcher.functionArn,
    };
}
