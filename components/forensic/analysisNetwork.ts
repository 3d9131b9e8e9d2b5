import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyJson } from "../shared/iam";

export type AnalysisAccessMode = "eic" | "ssm";

export interface AnalysisNetworkArgs {
    partition: string;
    region: string;
    /** The forensic account: the S3 endpoint serves its principals only. */
    accountId: string;
    /** VPC CIDR block, e.g. `10.66.0.0/16`. */
    cidr: string;
    /** One private subnet per CIDR, spread round-robin over the region's availability zones. */
    subnetCidrs: string[];
    /**
     * How investigators reach workstations. `eic` (default): one EC2 Instance Connect Endpoint, no hourly
     * charge, SSH only from it. `ssm`: Session Manager interface endpoints (about $7.30 per endpoint per AZ per month).
     */
    access: AnalysisAccessMode;
    /** `ssm` mode: number of AZs (the first subnets) that get an endpoint network interface. Default 1. */
    ssmEndpointAzCount?: number;
    /** `ssm` mode: also create the ec2messages endpoint, which only SSM Agent before 3.3.40.0 needs. Default false. */
    ssmEc2MessagesEndpoint?: boolean;
    /** Buckets the S3 gateway endpoint admits: evidence (read, and `analysis/` writes), the module store's symbols. */
    evidenceBucketArn: pulumi.Input<string>;
    moduleStore: { bucketName: string; symbolsPrefix: string };
    /** VPC flow logs (ALL traffic) go to this bucket under `flowLogPrefix`. */
    flowLogBucketArn: pulumi.Input<string>;
    flowLogPrefix: string;
    /** Flow log aggregation interval, 60 or 600 seconds. Default 600. */
    flowLogAggregationSeconds?: number;
    /** Resources the flow log must wait for (the log bucket's policy). */
    flowLogDependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** Buckets SSM Agent reads from on Linux (Systems Manager user guide, SSM Agent's minimum S3 permissions). */
function ssmAgentBuckets(partition: string, region: string): string[] {
    return [
        `aws-ssm-${region}`, `amazon-ssm-${region}`, `amazon-ssm-packages-${region}`, `${region}-birdwatcher-prod`,
        `aws-ssm-distributor-file-${region}`, `aws-ssm-document-attachments-${region}`, `patch-baseline-snapshot-${region}`,
    ].map((b) => `arn:${partition}:s3:::${b}/*`);
}

/**
 * The internet-less analysis VPC: private subnets only (no internet gateway, no NAT, no public IPs), an S3
 * gateway endpoint (free) that reaches only the evidence bucket, the module store's symbols and SSM Agent's
 * buckets, investigator access through an EC2 Instance Connect Endpoint or Session Manager endpoints,
 * workstation and endpoint security groups, and flow logs of all traffic.
 */
export class AnalysisNetwork extends pulumi.ComponentResource {
    public readonly vpc: aws.ec2.Vpc;
    public readonly vpcId: pulumi.Output<string>;
    public readonly subnetIds: pulumi.Output<string>[];
    public readonly subnetAvailabilityZones: pulumi.Output<string>[];
    public readonly routeTableId: pulumi.Output<string>;
    public readonly s3EndpointId: pulumi.Output<string>;
    public readonly s3PrefixListId: pulumi.Output<string>;
    public readonly workstationSecurityGroupId: pulumi.Output<string>;
    /** EIC endpoint's group in `eic` mode, interface endpoints' group in `ssm` mode. */
    public readonly accessSecurityGroupId: pulumi.Output<string>;
    /** `eic` mode only. */
    public readonly instanceConnectEndpointId?: pulumi.Output<string>;
    /** `ssm` mode only: service name → endpoint id. */
    public readonly interfaceEndpointIds: Record<string, pulumi.Output<string>> = {};
    /** `ssm` mode only: subnets that hold the endpoints' network interfaces (one per AZ). */
    public readonly interfaceEndpointSubnetIds?: pulumi.Output<string[]>;

    constructor(name: string, args: AnalysisNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:AnalysisNetwork", name, {}, opts);
        const parent = { parent: this };
        const servicePrefix = args.partition === "aws-cn" ? "cn.com.amazonaws" : "com.amazonaws";

        this.vpc = new aws.ec2.Vpc(name, {
            cidrBlock: args.cidr,
            enableDnsSupport: true,
            enableDnsHostnames: true,
            tags: { Name: `${name}-analysis` },
        }, parent);
        // The default group would allow all traffic between its members: leave it without rules.
        new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: this.vpc.id, tags: { Name: `${name}-default-unused` } }, parent);

        const zones = aws.getAvailabilityZonesOutput({
            state: "available",
            filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
        }, parent);
        const routeTable = new aws.ec2.RouteTable(`${name}-private`, { vpcId: this.vpc.id, tags: { Name: `${name}-private` } }, parent);
        const subnets = args.subnetCidrs.map((cidr, i) => {
            const subnet = new aws.ec2.Subnet(`${name}-private-${i + 1}`, {
                vpcId: this.vpc.id,
                cidrBlock: cidr,
                availabilityZone: zones.names.apply((names) => names[i % names.length]),
                mapPublicIpOnLaunch: false,
                tags: { Name: `${name}-private-${i + 1}` },
            }, parent);
            new aws.ec2.RouteTableAssociation(`${name}-private-${i + 1}`, { subnetId: subnet.id, routeTableId: routeTable.id }, parent);
            return subnet;
        });

        const evidenceObjects = pulumi.interpolate`${args.evidenceBucketArn}/*`;
        const moduleStoreArn = `arn:${args.partition}:s3:::${args.moduleStore.bucketName}`;
        const ownAccount = { StringEquals: { "aws:PrincipalAccount": args.accountId } };
        const s3Endpoint = new aws.ec2.VpcEndpoint(`${name}-s3`, {
            vpcId: this.vpc.id,
            serviceName: `${servicePrefix}.${args.region}.s3`,
            vpcEndpointType: "Gateway",
            routeTableIds: [routeTable.id],
            policy: policyJson([
                {
                    Sid: "EvidenceBucket",
                    Effect: "Allow",
                    Principal: "*",
                    Action: [
                        "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:AbortMultipartUpload",
                        "s3:ListMultipartUploadParts", "s3:ListBucket", "s3:GetBucketLocation",
                    ],
                    Resource: [args.evidenceBucketArn, evidenceObjects],
                    Condition: ownAccount,
                },
                {
                    Sid: "ModuleStoreSymbols",
                    Effect: "Allow",
                    Principal: "*",
                    Action: ["s3:GetObject", "s3:ListBucket"],
                    Resource: [moduleStoreArn, `${moduleStoreArn}/${args.moduleStore.symbolsPrefix}*`],
                    Condition: ownAccount,
                },
                {
                    Sid: "SsmAgentBuckets",
                    Effect: "Allow",
                    Principal: "*",
                    Action: "s3:GetObject",
                    Resource: ssmAgentBuckets(args.partition, args.region),
                    Condition: ownAccount,
                },
            ]),
            tags: { Name: `${name}-s3` },
        }, parent);

        const workstationSg = new aws.ec2.SecurityGroup(`${name}-workstation`, {
            vpcId: this.vpc.id,
            description: "ir-forensics analysis workstations: no internet, S3 through the gateway endpoint",
            tags: { Name: `${name}-workstation` },
        }, parent);
        new aws.vpc.SecurityGroupEgressRule(`${name}-workstation-to-s3`, {
            securityGroupId: workstationSg.id,
            description: "HTTPS to S3 through the gateway endpoint",
            ipProtocol: "tcp",
            fromPort: 443,
            toPort: 443,
            prefixListId: s3Endpoint.prefixListId,
        }, parent);

        const accessSg = new aws.ec2.SecurityGroup(`${name}-${args.access}`, {
            vpcId: this.vpc.id,
            description: args.access === "eic"
                ? "ir-forensics EC2 Instance Connect Endpoint: SSH to workstations only"
                : "ir-forensics Session Manager endpoints: HTTPS from workstations only",
            tags: { Name: `${name}-${args.access}-endpoint` },
        }, parent);

        if (args.access === "eic") {
            new aws.vpc.SecurityGroupEgressRule(`${name}-eic-to-workstation`, {
                securityGroupId: accessSg.id,
                description: "SSH to workstations",
                ipProtocol: "tcp",
                fromPort: 22,
                toPort: 22,
                referencedSecurityGroupId: workstationSg.id,
            }, parent);
            new aws.vpc.SecurityGroupIngressRule(`${name}-workstation-from-eic`, {
                securityGroupId: workstationSg.id,
                description: "SSH from the EC2 Instance Connect Endpoint only",
                ipProtocol: "tcp",
                fromPort: 22,
                toPort: 22,
                referencedSecurityGroupId: accessSg.id,
            }, parent);
            const eic = new aws.ec2transitgateway.InstanceConnectEndpoint(`${name}-eic`, {
                subnetId: subnets[0].id,
                securityGroupIds: [accessSg.id],
                // The endpoint's own address is the source, so the workstation group can admit the endpoint group.
                preserveClientIp: false,
                tags: { Name: `${name}-eic` },
            }, parent);
            this.instanceConnectEndpointId = eic.id;
        } else {
            const azCount = args.ssmEndpointAzCount ?? 1;
            new aws.vpc.SecurityGroupEgressRule(`${name}-workstation-to-ssm`, {
                securityGroupId: workstationSg.id,
                description: "HTTPS to the Session Manager endpoints",
                ipProtocol: "tcp",
                fromPort: 443,
                toPort: 443,
                referencedSecurityGroupId: accessSg.id,
            }, parent);
            new aws.vpc.SecurityGroupIngressRule(`${name}-ssm-from-workstation`, {
                securityGroupId: accessSg.id,
                description: "HTTPS from workstations",
                ipProtocol: "tcp",
                fromPort: 443,
                toPort: 443,
                referencedSecurityGroupId: workstationSg.id,
            }, parent);
            // The first subnets sit in distinct AZs (round-robin) as long as there are enough AZs.
            const endpointSubnets = subnets.slice(0, azCount).map((s) => s.id);
            const checkedSubnets = pulumi.all([zones.names, pulumi.all(endpointSubnets)]).apply(([names, ids]) => {
                if (azCount > names.length) {
                    throw new pulumi.RunError(
                        `Invalid config ir-forensics:analysisNetwork.ssmEndpointAzCount: expected at most ${names.length}, ` +
                        `the number of availability zones in ${args.region}, got ${azCount}`,
                    );
                }
                return ids;
            });
            this.interfaceEndpointSubnetIds = checkedSubnets;
            const services = ["ssm", "ssmmessages", ...(args.ssmEc2MessagesEndpoint ? ["ec2messages"] : [])];
            for (const service of services) {
                const endpoint = new aws.ec2.VpcEndpoint(`${name}-${service}`, {
                    vpcId: this.vpc.id,
                    serviceName: `${servicePrefix}.${args.region}.${service}`,
                    vpcEndpointType: "Interface",
                    privateDnsEnabled: true,
                    subnetIds: checkedSubnets,
                    securityGroupIds: [accessSg.id],
                    tags: { Name: `${name}-${service}` },
                }, parent);
                this.interfaceEndpointIds[service] = endpoint.id;
            }
        }

        new aws.ec2.FlowLog(`${name}-flow-log`, {
            vpcId: this.vpc.id,
            trafficType: "ALL",
            logDestinationType: "s3",
            logDestination: pulumi.interpolate`${args.flowLogBucketArn}/${args.flowLogPrefix}`,
            maxAggregationInterval: args.flowLogAggregationSeconds ?? 600,
            destinationOptions: { fileFormat: "plain-text", perHourPartition: true },
            tags: { Name: `${name}-flow-log` },
        }, { parent: this, dependsOn: args.flowLogDependsOn });

        this.vpcId = this.vpc.id;
        this.subnetIds = subnets.map((s) => s.id);
        this.subnetAvailabilityZones = subnets.map((s) => s.availabilityZone);
        this.routeTableId = routeTable.id;
        this.s3EndpointId = s3Endpoint.id;
        this.s3PrefixListId = s3Endpoint.prefixListId;
        this.workstationSecurityGroupId = workstationSg.id;
        this.accessSecurityGroupId = accessSg.id;
        this.registerOutputs({
            vpcId: this.vpcId,
            subnetIds: this.subnetIds,
            workstationSecurityGroupId: this.workstationSecurityGroupId,
            accessSecurityGroupId: this.accessSecurityGroupId,
            instanceConnectEndpointId: this.instanceConnectEndpointId,
            interfaceEndpointIds: this.interfaceEndpointIds,
        });
    }
}
