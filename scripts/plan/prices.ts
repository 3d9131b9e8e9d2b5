/**
 * The price table behind `npm run plan`'s idle cost: what each rendered resource costs per month while no
 * incident runs. AWS on-demand list prices for us-east-1 (eu-west-1 is the same or within a few percent for
 * every line), as published on the AWS pricing pages on 2026-11-23:
 *   VPC endpoints, NAT gateway, public IPv4   https://aws.amazon.com/vpc/pricing/ and https://aws.amazon.com/privatelink/pricing/
 *   KMS                                       https://aws.amazon.com/kms/pricing/
 *   AWS Config                                https://aws.amazon.com/config/pricing/
 *   S3                                        https://aws.amazon.com/s3/pricing/
 *   CloudTrail                                https://aws.amazon.com/cloudtrail/pricing/
 *   CloudWatch Logs                           https://aws.amazon.com/cloudwatch/pricing/
 *   EBS snapshots                             https://aws.amazon.com/ebs/pricing/
 *   Secrets Manager, Systems Manager          https://aws.amazon.com/secrets-manager/pricing/ and https://aws.amazon.com/systems-manager/pricing/
 *   EC2 Image Builder                         https://aws.amazon.com/image-builder/pricing/
 *
 * Cost is derived from the resources a stack renders, by type: {@link PRICED} turns one resource into cost
 * lines (possibly $0 with what it bills per use), {@link NO_IDLE_CHARGE} names the types that cost nothing
 * while idle and why. A type in neither is reported as unpriced, never counted as free.
 */
import type { Json } from "../../emulator/deploy/render";

/** Date the prices were read from the AWS pricing pages. */
export const PRICES_AS_OF = "2026-11-23";
export const PRICE_REGION = "us-east-1";
/** AWS bills hourly resources over 730 hours a month. */
export const HOURS_PER_MONTH = 730;

/** Unit prices in USD. */
export const PRICES = {
    /** Interface (and Gateway Load Balancer) VPC endpoint, per endpoint network interface (one per AZ) per hour. */
    interfaceEndpointEniHour: 0.01,
    /** NAT gateway (public or private) per hour, before $0.045/GB processed. */
    natGatewayHour: 0.045,
    /** Public IPv4 address (Elastic IP, attached or not) per hour. */
    publicIpv4Hour: 0.005,
    /** KMS customer-managed key per month (+$1 for each of its first two rotations). */
    kmsKeyMonth: 1,
    /** AWS Config configuration item recorded (continuous recording). */
    configItem: 0.003,
    /** S3 Standard storage per GB-month (first 50 TB). */
    s3StandardGbMonth: 0.023,
    /** CloudTrail data events per 100,000 delivered. */
    cloudTrailDataEventsPer100k: 0.1,
    /** CloudWatch Logs storage per GB-month (archived). */
    cloudWatchLogsGbMonth: 0.03,
    /** EBS snapshot storage (standard tier) per GB-month. */
    ebsSnapshotGbMonth: 0.05,
    /** Secrets Manager secret per month. */
    secretMonth: 0.4,
    /** Systems Manager Parameter Store advanced parameter per month (standard parameters: $0). */
    advancedParameterMonth: 0.05,
} as const;

/** What "idle" means where a price depends on use: no incident, only what the stack keeps by itself. */
export const IDLE_ASSUMPTIONS = {
    /** Logs, trail files, access logs and built modules a bucket holds between incidents (evidence excluded). */
    s3GbPerBucket: 1,
    /** Log events a log group keeps between incidents (functions and state machines log only when they run). */
    logGroupGb: 0.1,
    /** Configuration items an idle account records in a month (resources change rarely when nothing runs). */
    configItemsPerMonth: 300,
    /** Images an Image Builder pipeline keeps when no lifecycle policy says otherwise (the latest and the one before). */
    imagesKept: 2,
    /** Root volume of an image recipe without a block device mapping (EC2 Image Builder's default). */
    defaultRootVolumeGb: 8,
    /** Data events on evidence while idle (nothing reads or writes it). */
    dataEventsPerMonth: 0,
    /** awsx VPC: availability zones when the args name none (awsx's default). */
    awsxDefaultZones: 3,
} as const;

/** A rendered resource as the pricing sees it. */
export interface PricedResource {
    type: string;
    name: string;
    inputs: Record<string, Json>;
    /** Name of the provider that deploys it (account/region), "" for the default provider. */
    provider?: string;
}

/** One line of the idle cost: `quantity` × `unitPrice` = `monthly`. */
export interface CostLine {
    /** What is billed, e.g. "interface endpoint ENI-hours". */
    driver: string;
    type: string;
    name: string;
    provider: string;
    quantity: number;
    unit: string;
    unitPrice: number;
    monthly: number;
    /** How the quantity was derived, and what the resource bills per use on top. */
    basis: string;
}

export interface Unpriced {
    type: string;
    name: string;
    reason: string;
}

export interface IdleCost {
    lines: CostLine[];
    unpriced: Unpriced[];
    /** Resources with no idle charge, by type. */
    free: Record<string, number>;
    /** Sum of the lines' monthly cost, in USD, rounded to the cent. */
    totalMonthly: number;
    /** The same by the provider that deploys the resources (account and region), "" for the default one. */
    byProvider: Record<string, number>;
}

type Line = Omit<CostLine, "type" | "name" | "provider" | "monthly">;

/** Thrown by a rule when a resource's inputs do not say what it will cost: reported as unpriced. */
class Unpriceable extends Error {}
type Rule = (inputs: Record<string, Json>, all: PricedResource[]) => Line[];

const hourly = (driver: string, count: number, perHour: number, basis: string): Line => ({
    driver, quantity: count * HOURS_PER_MONTH, unit: "hours", unitPrice: perHour, basis,
});
/** A value or a list of them (absent: none), as a list. */
export const list = (v: unknown): Json[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

/** Interface endpoint network interfaces: one per subnet (each in its own AZ). */
function endpointEnis(inputs: Record<string, Json>): Line[] {
    const type = String(inputs.vpcEndpointType ?? "Gateway");
    if (type === "Gateway") {
        return [{ driver: "gateway endpoint", quantity: 1, unit: "endpoints", unitPrice: 0, basis: "gateway endpoints are free" }];
    }
    const enis = list(inputs.subnetIds).length;
    if (enis === 0) {
        throw new Unpriceable(`${type} endpoint whose subnets are not known at plan time`);
    }
    return [hourly("interface endpoint ENI-hours", enis, PRICES.interfaceEndpointEniHour,
        `${type} endpoint ${inputs.serviceName ?? "(service unknown)"} in ${enis} AZ(s), plus $0.01/GB processed`)];
}

/** An awsx VPC (remote component, opaque under mocks): priced from its args as awsx documents their defaults. */
function awsxVpc(inputs: Record<string, Json>): Line[] {
    const zones = list(inputs.availabilityZoneNames).length || Number(inputs.numberOfAvailabilityZones ?? IDLE_ASSUMPTIONS.awsxDefaultZones);
    const specTypes = inputs.subnetSpecs ? list(inputs.subnetSpecs).map((s) => String((s as { type?: string }).type)) : ["Public", "Private"];
    // awsx: "If private and public subnets are both specified, defaults to one gateway per availability zone."
    const defaultStrategy = specTypes.includes("Public") && specTypes.includes("Private") ? "OnePerAz" : "None";
    const strategy = String(inputs.natGateways?.strategy ?? defaultStrategy);
    const nats = strategy === "OnePerAz" ? zones : strategy === "Single" ? 1 : 0;
    const lines: Line[] = [];
    if (nats > 0) {
        lines.push(hourly("NAT gateway hours", nats, PRICES.natGatewayHour, `natGateways.strategy ${strategy} over ${zones} AZ(s), plus $0.045/GB processed`));
        lines.push(hourly("public IPv4 hours", nats, PRICES.publicIpv4Hour, "one Elastic IP per NAT gateway"));
    } else {
        lines.push({ driver: "NAT gateway hours", quantity: 0, unit: "hours", unitPrice: PRICES.natGatewayHour, basis: `natGateways.strategy ${strategy}` });
    }
    for (const spec of list(inputs.vpcEndpointSpecs) as Record<string, Json>[]) {
        if ((spec.vpcEndpointType ?? "Gateway") !== "Gateway") {
            const enis = list(spec.subnetIds).length || zones;
            lines.push(hourly("interface endpoint ENI-hours", enis, PRICES.interfaceEndpointEniHour, `${spec.serviceName} in ${enis} AZ(s)`));
        }
    }
    return lines;
}

/** Images an Image Builder pipeline keeps: a lifecycle policy's COUNT rule, else the stated assumption. */
function imagesKept(all: PricedResource[]): { count: number; basis: string } {
    for (const policy of all.filter((r) => r.type === "aws:imagebuilder/lifecyclePolicy:LifecyclePolicy")) {
        for (const detail of list(policy.inputs.policyDetails) as Record<string, Json>[]) {
            if (detail.filter?.type === "COUNT" && Number(detail.filter.value) > 0) {
                return { count: Number(detail.filter.value), basis: `lifecycle policy ${policy.name} keeps ${detail.filter.value}` };
            }
        }
    }
    return { count: IDLE_ASSUMPTIONS.imagesKept, basis: `assumed ${IDLE_ASSUMPTIONS.imagesKept} images kept` };
}

/** Types with an idle price, or a $0 line worth showing because they bill per use. */
export const PRICED: Record<string, Rule> = {
    "aws:ec2/vpcEndpoint:VpcEndpoint": endpointEnis,
    "aws:ec2/natGateway:NatGateway": (i) => [hourly("NAT gateway hours", 1, PRICES.natGatewayHour, `${i.connectivityType ?? "public"} NAT gateway, plus $0.045/GB processed`)],
    "aws:ec2/eip:Eip": () => [hourly("public IPv4 hours", 1, PRICES.publicIpv4Hour, "Elastic IP address")],
    "aws:kms/key:Key": (i) => [{
        driver: "KMS customer-managed keys", quantity: 1, unit: "keys", unitPrice: PRICES.kmsKeyMonth,
        basis: i.enableKeyRotation ? "rotated yearly: +$1/month after each of the first two rotations" : "not rotated",
    }],
    "aws:kms/replicaKey:ReplicaKey": () => [{ driver: "KMS customer-managed keys", quantity: 1, unit: "keys", unitPrice: PRICES.kmsKeyMonth, basis: "multi-Region replica" }],
    "aws:cfg/recorder:Recorder": () => [{
        driver: "Config items recorded", quantity: IDLE_ASSUMPTIONS.configItemsPerMonth, unit: "items", unitPrice: PRICES.configItem,
        basis: `assumed ${IDLE_ASSUMPTIONS.configItemsPerMonth} items a month in an idle account (one per change of any recorded resource)`,
    }],
    "aws:s3/bucket:Bucket": () => [{
        driver: "S3 Standard storage", quantity: IDLE_ASSUMPTIONS.s3GbPerBucket, unit: "GB-months", unitPrice: PRICES.s3StandardGbMonth,
        basis: `assumed ${IDLE_ASSUMPTIONS.s3GbPerBucket} GB kept while idle (logs, trail files, modules); stored evidence adds $0.023/GB-month`,
    }],
    "aws:cloudtrail/trail:Trail": () => [{
        driver: "CloudTrail data events", quantity: IDLE_ASSUMPTIONS.dataEventsPerMonth / 100_000, unit: "100k events", unitPrice: PRICES.cloudTrailDataEventsPer100k,
        basis: "no evidence reads or writes while idle",
    }],
    "aws:cloudwatch/logGroup:LogGroup": (i) => [{
        driver: "CloudWatch Logs storage", quantity: IDLE_ASSUMPTIONS.logGroupGb, unit: "GB-months", unitPrice: PRICES.cloudWatchLogsGbMonth,
        basis: `assumed ${IDLE_ASSUMPTIONS.logGroupGb} GB kept (retention ${i.retentionInDays ?? "never expires"} days)`,
    }],
    "aws:imagebuilder/imageRecipe:ImageRecipe": (i, all) => {
        const root = (list(i.blockDeviceMappings) as Record<string, Json>[]).find((m) => m.ebs?.volumeSize);
        const gb = Number(root?.ebs?.volumeSize ?? IDLE_ASSUMPTIONS.defaultRootVolumeGb);
        const kept = imagesKept(all);
        return [{
            driver: "EBS snapshot storage (AMIs)", quantity: kept.count * gb, unit: "GB-months", unitPrice: PRICES.ebsSnapshotGbMonth,
            basis: `${kept.basis} × ${gb} GB root volume (upper bound: snapshots bill used blocks only)`,
        }];
    },
    "aws:secretsmanager/secret:Secret": () => [{ driver: "Secrets Manager secrets", quantity: 1, unit: "secrets", unitPrice: PRICES.secretMonth, basis: "per secret" }],
    "aws:ssm/parameter:Parameter": (i) => [i.tier === "Advanced"
        ? { driver: "SSM advanced parameters", quantity: 1, unit: "parameters", unitPrice: PRICES.advancedParameterMonth, basis: "advanced tier" }
        : { driver: "SSM standard parameters", quantity: 1, unit: "parameters", unitPrice: 0, basis: `${i.tier ?? "Standard"} tier is free` }],
    "aws:ec2transitgateway/instanceConnectEndpoint:InstanceConnectEndpoint": () => [{
        driver: "EC2 Instance Connect Endpoint", quantity: 1, unit: "endpoints", unitPrice: 0, basis: "no hourly or data charge",
    }],
    "awsx:ec2:Vpc": awsxVpc,
};

/** Types that cost nothing while no incident runs, and why. */
export const NO_IDLE_CHARGE: Record<string, string> = {
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "IAM is free",
    "aws:iam/policy:Policy": "IAM is free",
    "aws:iam/instanceProfile:InstanceProfile": "IAM is free",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket setting",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket setting",
    "aws:s3/bucketVersioning:BucketVersioning": "bucket setting",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "bucket setting",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "bucket setting (transitions bill per object moved)",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket setting",
    "aws:s3/bucketLogging:BucketLogging": "bucket setting (log objects are the bucket's storage)",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "bucket setting",
    "aws:s3/bucketNotification:BucketNotification": "bucket setting",
    "aws:s3/bucketObjectv2:BucketObjectv2": "counted in its bucket's storage",
    "aws:kms/alias:Alias": "aliases are free",
    "aws:ec2/vpc:Vpc": "VPCs are free",
    "aws:ec2/subnet:Subnet": "subnets are free",
    "aws:ec2/routeTable:RouteTable": "free",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "free",
    "aws:ec2/route:Route": "free",
    "aws:ec2/internetGateway:InternetGateway": "free (instances' public IPv4 addresses bill while they run)",
    "aws:ec2/securityGroup:SecurityGroup": "free",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "free",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "free",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "free",
    "aws:ec2/flowLog:FlowLog": "billed per GB of flow records delivered ($0.25/GB to S3): none without traffic",
    "aws:ec2/launchTemplate:LaunchTemplate": "a template runs nothing",
    "aws:cfg/deliveryChannel:DeliveryChannel": "part of the recorder's cost",
    "aws:cfg/recorderStatus:RecorderStatus": "part of the recorder's cost",
    "aws:lambda/function:Function": "billed per request and GB-second",
    "aws:lambda/permission:Permission": "free",
    "aws:lambda/invocation:Invocation": "one invocation at deploy time",
    "aws:scheduler/schedule:Schedule": "EventBridge Scheduler: first 14 million invocations a month free",
    "aws:ssm/document:Document": "SSM documents are free",
    "aws:sfn/stateMachine:StateMachine": "billed per state transition",
    "aws:cloudwatch/eventBus:EventBus": "billed per event (AWS service events on the default bus are free)",
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": "free",
    "aws:cloudwatch/eventRule:EventRule": "billed per event delivered",
    "aws:cloudwatch/eventTarget:EventTarget": "billed per event delivered",
    "aws:sns/topic:Topic": "billed per publish and delivery",
    "aws:sns/topicSubscription:TopicSubscription": "billed per delivery",
    "aws:sqs/queue:Queue": "billed per request",
    "aws:dynamodb/table:Table": "on-demand: billed per request; first 25 GB stored free",
    "aws:securityhub/actionTarget:ActionTarget": "custom actions are free",
    "aws:imagebuilder/component:Component": "Image Builder is free (builds pay EC2 time)",
    "aws:imagebuilder/infrastructureConfiguration:InfrastructureConfiguration": "Image Builder is free (builds pay EC2 time)",
    "aws:imagebuilder/distributionConfiguration:DistributionConfiguration": "Image Builder is free",
    "aws:imagebuilder/imagePipeline:ImagePipeline": "Image Builder is free; each build pays its EC2 time (AMI storage: see image recipe)",
    "aws:imagebuilder/lifecyclePolicy:LifecyclePolicy": "Image Builder is free",
    "aws:imagebuilder/workflow:Workflow": "Image Builder is free",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "first 10 standard alarms free",
    "awsx:ec2:DefaultVpc": "reads the default VPC",
    "command:local:Command": "runs on the deploying machine",
};

/** Types that are not AWS resources: providers, stack references, the program's own components. */
export function isBillable(type: string): boolean {
    return !type.startsWith("pulumi:") && !type.startsWith("ir-forensics:");
}

/**
 * Idle monthly cost of rendered resources. DynamoDB tables on provisioned capacity, and any type that the
 * table does not know, are reported as unpriced.
 */
export function idleCost(resources: PricedResource[]): IdleCost {
    const lines: CostLine[] = [];
    const unpriced: Unpriced[] = [];
    const free: Record<string, number> = {};
    for (const r of resources.filter((x) => isBillable(x.type))) {
        const rule = PRICED[r.type];
        if (rule) {
            let priced: Line[];
            try {
                priced = rule(r.inputs, resources);
            } catch (err) {
                if (!(err instanceof Unpriceable)) {
                    throw err;
                }
                unpriced.push({ type: r.type, name: r.name, reason: err.message });
                continue;
            }
            for (const l of priced) {
                lines.push({ ...l, type: r.type, name: r.name, provider: r.provider ?? "", monthly: l.quantity * l.unitPrice });
            }
        } else if (r.type === "aws:dynamodb/table:Table" && (r.inputs.billingMode ?? "PROVISIONED") !== "PAY_PER_REQUEST") {
            unpriced.push({ type: r.type, name: r.name, reason: "provisioned capacity is billed by the hour: not in the price table" });
        } else if (NO_IDLE_CHARGE[r.type]) {
            free[r.type] = (free[r.type] ?? 0) + 1;
        } else {
            unpriced.push({ type: r.type, name: r.name, reason: "not in the price table (scripts/plan/prices.ts)" });
        }
    }
    const cents = (n: number) => Math.round(n * 100) / 100;
    const byProvider: Record<string, number> = {};
    for (const l of lines) {
        byProvider[l.provider] = (byProvider[l.provider] ?? 0) + l.monthly;
    }
    for (const p of Object.keys(byProvider)) {
        byProvider[p] = cents(byProvider[p]);
    }
    return { lines, unpriced, free, totalMonthly: cents(lines.reduce((sum, l) => sum + l.monthly, 0)), byProvider };
}
