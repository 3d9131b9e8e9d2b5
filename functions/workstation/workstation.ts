/**
 * The analysis workstation launcher (forensic account): one SIFT workstation per case, in an analysis
 * subnet, with a volume made from each of the case's evidence snapshots attached at launch (so in the
 * subnet's AZ, and deleted with the instance), a per-case role that reads only `cases/<case-id>/` and the
 * symbol tables, and boot-time user data that mounts every evidence filesystem read-only under
 * `/cases/<case-id>/` and stops the instance after the configured idle hours. Nothing on the workstation
 * calls EC2, so it works without any endpoint but S3's (eic access) as well as with Session Manager's.
 */
import { createHash } from "crypto";
import {
    BlockDeviceMapping, DescribeInstancesCommandInput, EC2Client, Instance, RunInstancesCommand, Snapshot, StartInstancesCommand, Subnet, _InstanceType,
    paginateDescribeInstances, paginateDescribeSnapshots, paginateDescribeSubnets,
} from "@aws-sdk/client-ec2";
import {
    AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, GetInstanceProfileCommand, IAMClient, PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { DISK_CASE_TAG, DISK_DEVICE_TAG, DISK_VOLUME_TAG } from "../acquisition/disk";

/** Tag on the workstation instance and its volumes: the case it examines. */
export const WORKSTATION_CASE_TAG = "ir-forensics:workstation-case";

/**
 * Session Manager's minimal instance permissions (Systems Manager user guide): the agent registers the
 * instance (an instance resource) and opens its channels (which take no resource).
 */
export const SESSION_REGISTRATION_ACTION = "ssm:UpdateInstanceInformation";
export const SESSION_CHANNEL_ACTIONS = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"];

/** The Session Manager statements of a workstation role. */
export function sessionManagerStatements(partition: string, region: string, accountId: string): { Sid: string; Effect: "Allow"; Action: string | string[]; Resource: string }[] {
    return [
        { Sid: "SessionManagerRegistration", Effect: "Allow", Action: SESSION_REGISTRATION_ACTION, Resource: `arn:${partition}:ec2:${region}:${accountId}:instance/*` },
        { Sid: "SessionManagerChannels", Effect: "Allow", Action: SESSION_CHANNEL_ACTIONS, Resource: "*" },
    ];
}

/** Name of the per-case role's inline policy. */
export const CASE_POLICY_NAME = "case-evidence";

/** Login user of the Ubuntu-based SIFT image. */
export const WORKSTATION_USER = "ubuntu";

/** Device names for evidence volumes: /dev/sdf to /dev/sdz (the AMI uses /dev/sda1). */
const EVIDENCE_DEVICE_LETTERS = "fghijklmnopqrstuvwxyz";

const CASE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface WorkstationSettings {
    partition: string;
    region: string;
    /** The forensic account. */
    accountId: string;
    evidenceBucket: string;
    evidenceKeyArn: string;
    /** `cases/` */
    casesPrefix: string;
    moduleStore: { bucketName: string; symbolsPrefix: string; accountId: string };
    /** SSM parameter the SIFT pipeline writes each new AMI id to. */
    amiParameterName: string;
    /** The analysis VPC: every subnet in it is an analysis subnet (read at launch: config allows 200). */
    vpcId: string;
    securityGroupId: string;
    instanceType: string;
    idleStopHours: number;
    access: "eic" | "ssm";
    instanceConnectEndpointId?: string;
    /** IAM path of the per-case roles and profiles, e.g. `/ir-forensics/investigator/case/`. */
    casePath: string;
    /** Every per-case role gets this permissions boundary. */
    permissionsBoundaryArn: string;
}

/** The host scripts user data installs (imagebuilder/mount-evidence.sh and idle-stop.sh). */
export interface WorkstationScripts {
    mountEvidence: string;
    idleStop: string;
}

export interface LaunchDeps {
    ec2: EC2Client;
    iam: IAMClient;
    ssm: SSMClient;
    settings: WorkstationSettings;
    scripts: WorkstationScripts;
    /** Waits between launch attempts while a new instance profile propagates (injected by tests). */
    sleep?: (ms: number) => Promise<void>;
}

export interface LaunchRequest {
    caseId: string;
    /** Makes a retried request idempotent (RunInstances client token); the Lambda request id. */
    requestToken?: string;
}

export interface EvidenceVolume {
    /** Device name requested at launch. */
    device: string;
    snapshotId: string;
    sourceVolumeId?: string;
    /** Device of the source volume on the suspect instance. */
    sourceDevice?: string;
    sizeGiB?: number;
}

export interface LaunchResult {
    caseId: string;
    /** launched: a new instance; running/pending: one already existed; started: a stopped one was started. */
    outcome: "launched" | "running" | "pending" | "started" | "stopping";
    instanceId: string;
    imageId?: string;
    subnetId?: string;
    availabilityZone?: string;
    roleArn: string;
    evidence: EvidenceVolume[];
    /** Snapshots of the case not attached, and why. */
    skipped: { snapshotId: string; reason: string }[];
    mountRoot: string;
    memoryImages: string;
    connect: string;
}

function sha256(text: string): string {
    return createHash("sha256").update(text).digest("hex");
}

/** Per-case role and profile name: role names have at most 64 characters, case ids up to 128. */
export function caseRoleName(caseId: string): string {
    return `ir-forensics-case-${sha256(caseId).slice(0, 20)}`;
}

export function checkCaseId(caseId: unknown): string {
    if (typeof caseId !== "string" || !CASE_ID.test(caseId)) {
        throw new Error(`caseId must be 1-128 letters, digits, '.', '_' or '-' (a case id of the response engine), got ${JSON.stringify(caseId)}`);
    }
    return caseId;
}

/** What the per-case role may do: read this case's evidence and the symbol tables, and Session Manager in `ssm` mode. */
export function caseAccessPolicy(settings: WorkstationSettings, caseId: string): object {
    const p = settings.partition;
    const bucket = `arn:${p}:s3:::${settings.evidenceBucket}`;
    const casePrefix = `${settings.casesPrefix}${caseId}/`;
    const moduleStore = `arn:${p}:s3:::${settings.moduleStore.bucketName}`;
    const s3Service = `s3.${settings.region}.amazonaws.com`;
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "ReadCaseEvidence", Effect: "Allow", Action: ["s3:GetObject", "s3:GetObjectVersion"], Resource: `${bucket}/${casePrefix}*` },
            {
                Sid: "ListCaseEvidence",
                Effect: "Allow",
                Action: "s3:ListBucket",
                Resource: bucket,
                Condition: { StringLike: { "s3:prefix": [casePrefix, `${casePrefix}*`] } },
            },
            {
                Sid: "DecryptEvidenceThroughS3",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: settings.evidenceKeyArn,
                Condition: { StringEquals: { "kms:ViaService": s3Service } },
            },
            { Sid: "ReadSymbolTables", Effect: "Allow", Action: "s3:GetObject", Resource: `${moduleStore}/${settings.moduleStore.symbolsPrefix}*` },
            {
                Sid: "ListSymbolTables",
                Effect: "Allow",
                Action: "s3:ListBucket",
                Resource: moduleStore,
                Condition: { StringLike: { "s3:prefix": `${settings.moduleStore.symbolsPrefix}*` } },
            },
            {
                Sid: "DecryptSymbolTablesThroughS3",
                Effect: "Allow",
                Action: "kms:Decrypt",
                Resource: `arn:${p}:kms:${settings.region}:${settings.moduleStore.accountId}:key/*`,
                Condition: { StringEquals: { "kms:ViaService": s3Service } },
            },
            ...(settings.access === "ssm" ? sessionManagerStatements(p, settings.region, settings.accountId) : []),
        ],
    };
}

function ec2TrustPolicy(accountId: string): string {
    return JSON.stringify({
        Version: "2012-10-17",
        Statement: [{
            Sid: "TrustedService",
            Effect: "Allow",
            Principal: { Service: "ec2.amazonaws.com" },
            Action: "sts:AssumeRole",
            Condition: { StringEquals: { "aws:SourceAccount": accountId } },
        }],
    });
}

function errorName(err: unknown): string {
    return (err as { name?: string })?.name ?? "";
}

async function ignoring<T>(names: string[], call: () => Promise<T>): Promise<T | undefined> {
    try {
        return await call();
    } catch (err) {
        if (names.includes(errorName(err))) {
            return undefined;
        }
        throw err;
    }
}

/** Creates (or brings up to date) the case's role, its inline policy and its instance profile. */
export async function ensureCaseProfile(iam: IAMClient, settings: WorkstationSettings, caseId: string): Promise<{ roleArn: string; profileArn: string }> {
    const name = caseRoleName(caseId);
    const path = settings.casePath;
    await ignoring(["EntityAlreadyExistsException"], () => iam.send(new CreateRoleCommand({
        RoleName: name,
        Path: path,
        Description: `ir-forensics analysis workstation of case ${caseId}: reads cases/${caseId}/ only`.slice(0, 1000),
        AssumeRolePolicyDocument: ec2TrustPolicy(settings.accountId),
        PermissionsBoundary: settings.permissionsBoundaryArn,
        MaxSessionDuration: 3600,
        Tags: [{ Key: WORKSTATION_CASE_TAG, Value: caseId }],
    })));
    await iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: CASE_POLICY_NAME, PolicyDocument: JSON.stringify(caseAccessPolicy(settings, caseId)) }));
    await ignoring(["EntityAlreadyExistsException"], () => iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name, Path: path })));
    const profile = await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
    if (!(profile.InstanceProfile?.Roles ?? []).some((r) => r.RoleName === name)) {
        await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: name }));
    }
    const arn = (kind: string) => `arn:${settings.partition}:iam::${settings.accountId}:${kind}${path}${name}`;
    return { roleArn: arn("role"), profileArn: profile.InstanceProfile?.Arn ?? arn("instance-profile") };
}

const tagOf = (snapshot: Snapshot, key: string) => snapshot.Tags?.find((t) => t.Key === key)?.Value;

/** The case's evidence snapshots in this account: completed ones to attach (device order), the rest skipped. */
export async function caseSnapshots(ec2: EC2Client, caseId: string): Promise<{ evidence: EvidenceVolume[]; skipped: LaunchResult["skipped"] }> {
    const found: Snapshot[] = [];
    for await (const page of paginateDescribeSnapshots({ client: ec2 }, { OwnerIds: ["self"], Filters: [{ Name: `tag:${DISK_CASE_TAG}`, Values: [caseId] }] })) {
        found.push(...(page.Snapshots ?? []));
    }
    const skipped: LaunchResult["skipped"] = [];
    const ready = found.filter((s) => {
        if (s.State !== "completed") {
            skipped.push({ snapshotId: s.SnapshotId ?? "", reason: `snapshot is ${s.State ?? "in an unknown state"}` });
            return false;
        }
        return true;
    }).sort((a, b) => `${tagOf(a, DISK_DEVICE_TAG)}|${a.SnapshotId}`.localeCompare(`${tagOf(b, DISK_DEVICE_TAG)}|${b.SnapshotId}`));
    const evidence: EvidenceVolume[] = [];
    ready.forEach((s, i) => {
        if (i >= EVIDENCE_DEVICE_LETTERS.length) {
            skipped.push({ snapshotId: s.SnapshotId ?? "", reason: `more than ${EVIDENCE_DEVICE_LETTERS.length} evidence volumes: attach it by hand` });
            return;
        }
        evidence.push({
            device: `/dev/sd${EVIDENCE_DEVICE_LETTERS[i]}`,
            snapshotId: s.SnapshotId ?? "",
            sourceVolumeId: tagOf(s, DISK_VOLUME_TAG),
            sourceDevice: tagOf(s, DISK_DEVICE_TAG),
            sizeGiB: s.VolumeSize,
        });
    });
    return { evidence, skipped };
}

/** Instances matching `filters`, every page. */
async function instancesWhere(ec2: EC2Client, filters: DescribeInstancesCommandInput["Filters"]): Promise<Instance[]> {
    const found: Instance[] = [];
    for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters: filters })) {
        found.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []));
    }
    return found;
}

const NOT_TERMINATED = { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] };

/** The case's workstation that is not terminated, if any. */
async function existingWorkstation(ec2: EC2Client, caseId: string): Promise<Instance | undefined> {
    return (await instancesWhere(ec2, [{ Name: `tag:${WORKSTATION_CASE_TAG}`, Values: [caseId] }, NOT_TERMINATED]))[0];
}

export interface AnalysisSubnet {
    subnetId: string;
    availabilityZone: string;
}

/** The analysis VPC's subnets, in address order. */
export async function analysisSubnets(ec2: EC2Client, vpcId: string): Promise<AnalysisSubnet[]> {
    const found: Subnet[] = [];
    for await (const page of paginateDescribeSubnets({ client: ec2 }, { Filters: [{ Name: "vpc-id", Values: [vpcId] }] })) {
        found.push(...(page.Subnets ?? []));
    }
    if (found.length === 0) {
        throw new Error(`the analysis VPC ${vpcId} has no subnets`);
    }
    const address = (s: Subnet) => (s.CidrBlock ?? "").split("/")[0].split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
    return found.sort((a, b) => address(a) - address(b)).map((s) => ({ subnetId: s.SubnetId ?? "", availabilityZone: s.AvailabilityZone ?? "" }));
}

/**
 * Subnets in the order to try: fewest workstations first; ties in round-robin order starting at a slot
 * the case id picks, so that cases launched at the same moment spread over the AZs.
 */
export async function subnetOrder(ec2: EC2Client, subnets: AnalysisSubnet[], caseId: string): Promise<AnalysisSubnet[]> {
    const load: Record<string, number> = {};
    for (const instance of await instancesWhere(ec2, [{ Name: "tag-key", Values: [WORKSTATION_CASE_TAG] }, NOT_TERMINATED])) {
        load[instance.SubnetId ?? ""] = (load[instance.SubnetId ?? ""] ?? 0) + 1;
    }
    const n = subnets.length;
    const start = parseInt(sha256(caseId).slice(0, 8), 16) % n;
    return subnets
        .map((subnet, i) => ({ subnet, load: load[subnet.subnetId] ?? 0, slot: (i - start + n) % n }))
        .sort((a, b) => a.load - b.load || a.slot - b.slot)
        .map((x) => x.subnet);
}

export function connectCommand(settings: WorkstationSettings, instanceId: string): string {
    if (settings.access === "ssm") {
        return `aws ssm start-session --region ${settings.region} --target ${instanceId}`;
    }
    const endpoint = settings.instanceConnectEndpointId ? ` --instance-connect-endpoint-id ${settings.instanceConnectEndpointId}` : "";
    return `aws ec2-instance-connect ssh --region ${settings.region} --instance-id ${instanceId} --connection-type eice${endpoint} --os-user ${WORKSTATION_USER}`;
}

/** A here-document whose body is `text` verbatim (quoted delimiter: no expansion). */
function heredoc(target: string, text: string, delimiter: string): string {
    if (text.split("\n").includes(delimiter)) {
        throw new Error(`${target}: the text contains the here-document delimiter ${delimiter}`);
    }
    return `cat >${target} <<'${delimiter}'\n${text.endsWith("\n") ? text : `${text}\n`}${delimiter}\n`;
}

const SAFE_VALUE = /^[A-Za-z0-9._/:-]*$/;

export interface UserDataInput {
    caseId: string;
    /** The workstation's region: the AWS CLI must use the regional S3 endpoint, the only way out. */
    region: string;
    evidenceBucket: string;
    casesPrefix: string;
    moduleStore: { bucketName: string; symbolsPrefix: string };
    idleStopHours: number;
    evidence: EvidenceVolume[];
}

/**
 * The workstation's user data: a bash script (run once, at first boot) that installs the mount and idle
 * scripts with their settings and two systemd units that run at every boot: symbol sync and read-only
 * evidence mounts, and a timer that stops the workstation when idle.
 */
export function workstationUserData(input: UserDataInput, scripts: WorkstationScripts): string {
    const caseId = checkCaseId(input.caseId);
    const env: Record<string, string> = {
        CASE_ID: caseId,
        EVIDENCE_DISKS: String(input.evidence.length),
        EVIDENCE_BUCKET: input.evidenceBucket,
        MODULE_STORE_BUCKET: input.moduleStore.bucketName,
        SYMBOLS_PREFIX: input.moduleStore.symbolsPrefix,
        IDLE_STOP_HOURS: String(input.idleStopHours),
        AWS_DEFAULT_REGION: input.region,
    };
    for (const [key, value] of Object.entries(env)) {
        if (!SAFE_VALUE.test(value)) {
            throw new Error(`workstation setting ${key} has characters a shell would interpret: ${JSON.stringify(value)}`);
        }
    }
    const listing = [
        "device\tsnapshot\tsource-volume\tsource-device",
        ...input.evidence.map((e) => [e.device, e.snapshotId, e.sourceVolumeId ?? "-", e.sourceDevice ?? "-"].join("\t")),
    ].join("\n");
    const caseDir = `/cases/${caseId}`;
    const readme = [
        `Case ${caseId}: evidence volumes are mounted read-only below this directory (see MOUNTS.txt;`,
        "/etc/ir-forensics/evidence.tsv maps each volume to its source device).",
        `Memory images and the case manifest: aws s3 ls s3://${input.evidenceBucket}/${input.casesPrefix}${caseId}/ --recursive`,
        "Volatility 3 (vol) searches the module store's symbol tables first (/opt/volatility3/symbols).",
    ].join("\n");
    const evidenceUnit = [
        "[Unit]",
        "Description=ir-forensics: Volatility symbol tables and read-only evidence mounts of the case",
        "After=local-fs.target network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        "EnvironmentFile=/etc/ir-forensics/workstation.env",
        "ExecStart=/usr/local/sbin/ir-forensics-idle-stop --reset",
        // A module store that cannot be read leaves the image's copy of the symbols: not a reason to stop.
        "ExecStart=-/usr/local/sbin/ir-forensics-sync-symbols ${MODULE_STORE_BUCKET} ${SYMBOLS_PREFIX} ${AWS_DEFAULT_REGION}",
        "ExecStart=/usr/local/sbin/ir-forensics-mount-evidence",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ].join("\n");
    const idleService = [
        "[Unit]",
        "Description=ir-forensics: stop the workstation when idle",
        "",
        "[Service]",
        "Type=oneshot",
        "ExecStart=/usr/local/sbin/ir-forensics-idle-stop",
    ].join("\n");
    const idleTimer = [
        "[Unit]",
        "Description=ir-forensics: check every 10 minutes whether the workstation is idle",
        "",
        "[Timer]",
        "OnBootSec=15min",
        "OnUnitActiveSec=10min",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ].join("\n");
    return [
        "#!/bin/bash",
        `# ir-forensics analysis workstation of case ${caseId}: evidence read-only under ${caseDir}/, stops when idle.`,
        "set -euo pipefail",
        `install -d -m 0755 /etc/ir-forensics /usr/local/sbin ${caseDir}`,
        heredoc("/etc/ir-forensics/workstation.env", Object.entries(env).map(([k, v]) => `${k}=${v}`).join("\n"), "IRF_ENV"),
        heredoc("/etc/ir-forensics/evidence.tsv", listing, "IRF_EVIDENCE"),
        heredoc(`${caseDir}/README.txt`, readme, "IRF_README"),
        // Investigators' shells use the regional S3 endpoint too.
        heredoc("/etc/profile.d/ir-forensics.sh", `export AWS_DEFAULT_REGION=${input.region}`, "IRF_PROFILE"),
        heredoc("/usr/local/sbin/ir-forensics-mount-evidence", scripts.mountEvidence, "IRF_SCRIPT"),
        heredoc("/usr/local/sbin/ir-forensics-idle-stop", scripts.idleStop, "IRF_SCRIPT"),
        "chmod 0755 /usr/local/sbin/ir-forensics-mount-evidence /usr/local/sbin/ir-forensics-idle-stop",
        heredoc("/etc/systemd/system/ir-forensics-evidence.service", evidenceUnit, "IRF_UNIT"),
        heredoc("/etc/systemd/system/ir-forensics-idle-stop.service", idleService, "IRF_UNIT"),
        heredoc("/etc/systemd/system/ir-forensics-idle-stop.timer", idleTimer, "IRF_UNIT"),
        "systemctl daemon-reload",
        "systemctl enable --now ir-forensics-evidence.service ir-forensics-idle-stop.timer",
        "",
    ].join("\n");
}

/** Capacity errors that another AZ may not have. */
const CAPACITY_ERRORS = ["InsufficientInstanceCapacity", "Unsupported", "InsufficientVolumeCapacity"];

function isProfilePropagation(err: unknown): boolean {
    return errorName(err) === "InvalidParameterValue" && /iam ?instance ?profile/i.test(String((err as Error).message));
}

/**
 * Launches (or finds, or starts) the case's workstation and says how to connect. Idempotent: a second
 * call for the same case returns the workstation that exists.
 */
export async function launchWorkstation(request: LaunchRequest, deps: LaunchDeps): Promise<LaunchResult> {
    const { ec2, settings } = deps;
    const caseId = checkCaseId(request?.caseId);
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const { evidence, skipped } = await caseSnapshots(ec2, caseId);
    const profile = await ensureCaseProfile(deps.iam, settings, caseId);
    const base = {
        caseId,
        roleArn: profile.roleArn,
        evidence,
        skipped,
        mountRoot: `/cases/${caseId}`,
        memoryImages: `s3://${settings.evidenceBucket}/${settings.casesPrefix}${caseId}/memory/`,
    };

    const existing = await existingWorkstation(ec2, caseId);
    if (existing?.InstanceId) {
        const state = existing.State?.Name ?? "pending";
        if (state === "stopped") {
            await ec2.send(new StartInstancesCommand({ InstanceIds: [existing.InstanceId] }));
        }
        const outcome = state === "stopped" ? "started" : state === "running" ? "running" : state === "stopping" ? "stopping" : "pending";
        return {
            ...base,
            outcome,
            instanceId: existing.InstanceId,
            imageId: existing.ImageId,
            subnetId: existing.SubnetId,
            availabilityZone: existing.Placement?.AvailabilityZone,
            connect: connectCommand(settings, existing.InstanceId),
        };
    }

    const parameter = await deps.ssm.send(new GetParameterCommand({ Name: settings.amiParameterName }));
    const imageId = parameter.Parameter?.Value;
    if (!imageId || !/^ami-[0-9a-f]+$/.test(imageId)) {
        throw new Error(`no SIFT image yet: ${settings.amiParameterName} holds ${JSON.stringify(imageId)} (has the image pipeline run?)`);
    }
    const userData = workstationUserData({
        caseId,
        region: settings.region,
        evidenceBucket: settings.evidenceBucket,
        casesPrefix: settings.casesPrefix,
        moduleStore: settings.moduleStore,
        idleStopHours: settings.idleStopHours,
        evidence,
    }, deps.scripts);
    const blockDevices: BlockDeviceMapping[] = evidence.map((e) => ({
        DeviceName: e.device,
        // Encrypted like the snapshot (under the evidence key); gone with the instance, the snapshot stays.
        Ebs: { SnapshotId: e.snapshotId, VolumeType: "gp3", DeleteOnTermination: true },
    }));
    const tags = [
        { Key: "Name", Value: `ir-forensics-workstation-${caseId}`.slice(0, 255) },
        { Key: WORKSTATION_CASE_TAG, Value: caseId },
    ];
    // A retried invocation repeats its launch instead of making a second workstation; one token per subnet,
    // since a token cannot be reused with other parameters.
    const requestToken = request.requestToken ?? new Date().toISOString().slice(0, 16);
    const clientToken = (subnetId: string) => sha256(`${caseId}|${requestToken}|${subnetId}`).slice(0, 64);

    const failures: string[] = [];
    for (const subnet of await subnetOrder(ec2, await analysisSubnets(ec2, settings.vpcId), caseId)) {
        for (let attempt = 1; ; attempt++) {
            try {
                const out = await ec2.send(new RunInstancesCommand({
                    ImageId: imageId,
                    InstanceType: settings.instanceType as _InstanceType,
                    MinCount: 1,
                    MaxCount: 1,
                    ClientToken: clientToken(subnet.subnetId),
                    IamInstanceProfile: { Arn: profile.profileArn },
                    NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnet.subnetId, Groups: [settings.securityGroupId], AssociatePublicIpAddress: false }],
                    MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled", HttpPutResponseHopLimit: 1 },
                    InstanceInitiatedShutdownBehavior: "stop",
                    BlockDeviceMappings: blockDevices,
                    UserData: Buffer.from(userData, "utf8").toString("base64"),
                    TagSpecifications: [
                        { ResourceType: "instance", Tags: tags },
                        { ResourceType: "volume", Tags: tags },
                    ],
                }));
                const instance = out.Instances?.[0];
                if (!instance?.InstanceId) {
                    throw new Error("RunInstances returned no instance");
                }
                return {
                    ...base,
                    outcome: "launched",
                    instanceId: instance.InstanceId,
                    imageId,
                    subnetId: subnet.subnetId,
                    availabilityZone: subnet.availabilityZone,
                    connect: connectCommand(settings, instance.InstanceId),
                };
            } catch (err) {
                // A new instance profile takes a few seconds to be usable by EC2.
                if (isProfilePropagation(err) && attempt < 10) {
                    await sleep(3000);
                    continue;
                }
                if (CAPACITY_ERRORS.includes(errorName(err))) {
                    failures.push(`${subnet.availabilityZone}: ${String((err as Error).message)}`);
                    break;
                }
                throw err;
            }
        }
    }
    throw new Error(`no analysis subnet could launch ${settings.instanceType} for case ${caseId}: ${failures.join("; ")}`);
}

/** The EventBridge "Object Created" event of the evidence bucket (S3 → EventBridge notifications). */
export interface ObjectCreatedEvent {
    /** EventBridge's event id: the same on Lambda's retries of one delivery. */
    id?: string;
    "detail-type": string;
    detail: { bucket: { name: string }; object: { key: string } };
}

export interface CaseEndDeps extends LaunchDeps {
    s3: S3Client;
}

/**
 * Launches the workstation when a case's final manifest is written: the manifest is rewritten after
 * every stage with status `running`; the close step writes the outcome. Contain-only cases have no
 * evidence to examine and are left alone.
 */
export async function onManifestWritten(event: ObjectCreatedEvent, deps: CaseEndDeps): Promise<LaunchResult | { ignored: string }> {
    const key = event?.detail?.object?.key ?? "";
    const prefix = deps.settings.casesPrefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const match = new RegExp(`^${prefix}([^/]+)/manifest\\.json$`).exec(key);
    if (event?.detail?.bucket?.name !== deps.settings.evidenceBucket || !match) {
        return { ignored: `not a case manifest: ${event?.detail?.bucket?.name}/${key}` };
    }
    const object = await deps.s3.send(new GetObjectCommand({ Bucket: deps.settings.evidenceBucket, Key: key }));
    const manifest = JSON.parse(await object.Body?.transformToString() ?? "{}") as { caseId?: string; status?: string; mode?: string };
    if (manifest.caseId !== match[1]) {
        return { ignored: `manifest ${key} names case ${JSON.stringify(manifest.caseId)}` };
    }
    if (!manifest.status || manifest.status === "running") {
        return { ignored: `case ${match[1]} is still running` };
    }
    if (manifest.mode !== "analyze") {
        return { ignored: `case ${match[1]} was opened to contain only: no evidence to examine` };
    }
    return launchWorkstation({ caseId: match[1], requestToken: `case-end|${event.id ?? key}` }, deps);
}
