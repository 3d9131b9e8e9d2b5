import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface BuildNetworkArgs {
    /** CIDR of the VPC and of its one public subnet, e.g. `10.67.0.0/24`. */
    cidr: string;
    /** VPC flow logs (ALL traffic) go to this bucket under `flowLogPrefix`. */
    flowLogBucketArn: pulumi.Input<string>;
    flowLogPrefix: string;
    /** Resources the flow log must wait for (the log bucket's policy). */
    flowLogDependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * A network for image builds that costs nothing while idle: one public subnet behind an internet
 * gateway, no NAT gateway. Build instances get a public IP (billed only while they run) and a security
 * group with no ingress and only HTTP/HTTPS egress (Ubuntu's archives, GitHub, PyPI, S3). Kept apart
 * from the analysis VPC, which has no route out at all.
 */
export class BuildNetwork extends pulumi.ComponentResource {
    public readonly vpcId: pulumi.Output<string>;
    public readonly subnetId: pulumi.Output<string>;
    public readonly securityGroupId: pulumi.Output<string>;

    constructor(name: string, args: BuildNetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:forensic:BuildNetwork", name, {}, opts);
        const parent = { parent: this };
        const vpc = new aws.ec2.Vpc(name, {
            cidrBlock: args.cidr,
            enableDnsSupport: true,
            enableDnsHostnames: true,
            tags: { Name: `${name}-build` },
        }, parent);
        // The default group would allow all traffic between its members: leave it without rules.
        new aws.ec2.DefaultSecurityGroup(`${name}-default-sg`, { vpcId: vpc.id, tags: { Name: `${name}-default-unused` } }, parent);
        const gateway = new aws.ec2.InternetGateway(name, { vpcId: vpc.id, tags: { Name: `${name}-build` } }, parent);
        const zones = aws.getAvailabilityZonesOutput({
            state: "available",
            filters: [{ name: "opt-in-status", values: ["opt-in-not-required"] }],
        }, parent);
        const subnet = new aws.ec2.Subnet(`${name}-public`, {
            vpcId: vpc.id,
            cidrBlock: args.cidr,
            availabilityZone: zones.names.apply((names) => names[0]),
            // Image Builder has no public-IP option: the subnet gives one, so no NAT gateway is needed.
            mapPublicIpOnLaunch: true,
            tags: { Name: `${name}-public` },
        }, parent);
        const routes = new aws.ec2.RouteTable(`${name}-public`, { vpcId: vpc.id, tags: { Name: `${name}-public` } }, parent);
        new aws.ec2.Route(`${name}-internet`, { routeTableId: routes.id, destinationCidrBlock: "0.0.0.0/0", gatewayId: gateway.id }, parent);
        new aws.ec2.RouteTableAssociation(`${name}-public`, { subnetId: subnet.id, routeTableId: routes.id }, parent);

        const sg = new aws.ec2.SecurityGroup(`${name}-instances`, {
            vpcId: vpc.id,
            description: "ir-forensics image builds: no ingress, HTTP and HTTPS out",
            tags: { Name: `${name}-instances` },
        }, parent);
        for (const port of [80, 443]) {
            new aws.vpc.SecurityGroupEgressRule(`${name}-out-${port}`, {
                securityGroupId: sg.id,
                description: port === 80 ? "HTTP: Ubuntu package archives (signed packages)" : "HTTPS: GitHub, PyPI, S3, Systems Manager",
                ipProtocol: "tcp",
                fromPort: port,
                toPort: port,
                cidrIpv4: "0.0.0.0/0",
            }, parent);
        }
        new aws.ec2.FlowLog(`${name}-flow-log`, {
            vpcId: vpc.id,
            trafficType: "ALL",
            logDestinationType: "s3",
            logDestination: pulumi.interpolate`${args.flowLogBucketArn}/${args.flowLogPrefix}`,
            maxAggregationInterval: 600,
            destinationOptions: { fileFormat: "plain-text", perHourPartition: true },
            tags: { Name: `${name}-flow-log` },
        }, { parent: this, dependsOn: args.flowLogDependsOn });

        this.vpcId = vpc.id;
        this.subnetId = subnet.id;
        this.securityGroupId = sg.id;
        this.registerOutputs({ vpcId: this.vpcId, subnetId: this.subnetId, securityGroupId: this.securityGroupId });
    }
}
