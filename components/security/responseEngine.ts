import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { EngineSettings, RuntimeSettings } from "../../functions/shared/settings";
import type { DiskSettings } from "../../functions/shared/settings";
import * as handlers from "../../functions/response/handlers";
import { SlackSettings } from "../../functions/response/slack";
import { engineFunction, EngineFunction } from "../shared/engineFunction";
import { policyJson, serviceTrustPolicy, Statement } from "../shared/iam";
import { incidentDefinition } from "./incidentDefinition";
import { MemberNames } from "../member/memberIrAutomation";

export interface ResponseEngineArgs {
    partition: string;
    region: string;
    /** The security account. */
    accountId: string;
    organizationId: string;
    /** The forensic stack's evidence store. */
    evidence: { bucketName: pulumi.Input<string>; bucketArn: pulumi.Input<string>; keyArn: pulumi.Input<string>; region: pulumi.Input<string> };
    /** Member accounts (the engine assumes their responder role). */
    memberAccounts: string[];
    /** Regions watched in each member account: the group keeper keeps the engine's groups in their VPCs. Default: none. */
    memberRegions?: Record<string, string[]>;
    memberNames: MemberNames;
    /** IAM path of the engine's roles: the evidence bucket, its key and the member trust policies match on it. */
    responderRolePath: string;
    isolation: EngineSettings["isolation"];
    guardDutyMinSeverity?: number;
    /** Event patterns that open cases, as the member rules forward them (and GuardDuty's on this account's default bus). */
    patterns: Record<string, object>;
    logRetentionDays: number;
    /** E-mail subscribers of the notification topic. */
    notificationEmails?: string[];
    /** Slack incoming webhook (a secret); a callback posts every notification there. Default: none. */
    slackWebhookUrl?: pulumi.Output<string>;
    /** Memory acquisition: the module store (this account, this region) and the members' SSM document. */
    memory: { moduleStoreBucket: string; documentName: string };
    /** Disk acquisition: the members' IR key alias, the forensic account and its evidence-copier role, lock and cleanup. */
    disk: DiskSettings & { copierRoleArn: string };
}

/** How often the group keeper looks for VPCs created since its last run. */
export const KEEPER_SCHEDULE = "rate(1 hour)";

/** SSM SecureString that holds the Slack webhook URL (the Pulumi secret `slackWebhookUrl`). */
export const SLACK_WEBHOOK_PARAMETER = "/ir-forensics/slack/webhook-url";

/** Names of the engine's AWS resources that other code addresses by name. */
export const ENGINE_NAMES = {
    bus: "ir-forensics",
    stateMachine: "ir-forensics-incident",
    casesTable: "ir-forensics-cases",
    topic: "ir-forensics-notifications",
    failedExecutionsAlarm: "ir-forensics-incident-failures",
} as const;

/**
 * The response engine in the security account: an event bus that admits events from the organization
 * only, the case opener behind its rules, the incident state machine (logging ALL, X-Ray on) with its
 * step callbacks, the case registry (one running case per instance), and the notification topic (SNS,
 * KMS-encrypted) with e-mail and optional Slack subscribers. Each callback has a role of its own.
 */
export class ResponseEngine extends pulumi.ComponentResource {
    public readonly bus: aws.cloudwatch.EventBus;
    public readonly stateMachine: aws.sfn.StateMachine;
    public readonly casesTable: aws.dynamodb.Table;
    public readonly topic: aws.sns.Topic;
    /** Failed, timed-out and aborted incident executions; its actions page the topic. */
    public readonly failedExecutionsAlarm: aws.cloudwatch.MetricAlarm;
    /** The engine's callbacks by name (openCase, triage, isolate, record, contain, close, slack). */
    public readonly functions: Record<string, EngineFunction> = {};
    /** Keeps the engine's security groups ready in every member VPC (the stack invokes it at deploy time). */
    public readonly groupKeeper: EngineFunction;
    /** Rules that open cases, by pattern name. */
    public readonly rules: Record<string, aws.cloudwatch.EventRule> = {};
    public readonly settings: pulumi.Output<RuntimeSettings>;

    constructor(name: string, args: ResponseEngineArgs, opts?: pulumi.ComponentResourceOptions) {
        super("ir-forensics:security:ResponseEngine", name, {}, opts);
        const parent = { parent: this };
        const p = args.partition;
        const acct = args.accountId;
        const stateMachineArn = `arn:${p}:states:${args.region}:${acct}:stateMachine:${ENGINE_NAMES.stateMachine}`;

        this.bus = new aws.cloudwatch.EventBus(`${name}-bus`, { name: ENGINE_NAMES.bus }, parent);
        new aws.cloudwatch.EventBusPolicy(`${name}-bus-policy`, {
            eventBusName: this.bus.name,
            policy: policyJson([{
                Sid: "OrganizationOnly",
                Effect: "Allow",
                Principal: "*",
                Action: "events:PutEvents",
                Resource: this.bus.arn,
                Condition: { StringEquals: { "aws:PrincipalOrgID": args.organizationId } },
            }]),
        }, parent);

        this.casesTable = new aws.dynamodb.Table(`${name}-cases`, {
            name: ENGINE_NAMES.casesTable,
            billingMode: "PAY_PER_REQUEST",
            hashKey: "instanceKey",
            attributes: [{ name: "instanceKey", type: "S" }],
            pointInTimeRecovery: { enabled: true },
            serverSideEncryption: { enabled: true },
            deletionProtectionEnabled: true,
        }, { parent: this, retainOnDelete: true, protect: true });

        // The AWS managed SNS key: encrypted at rest, no monthly key charge, usable by this account's publishers.
        this.topic = new aws.sns.Topic(`${name}-notifications`, {
            name: ENGINE_NAMES.topic,
            kmsMasterKeyId: "alias/aws/sns",
        }, parent);
        (args.notificationEmails ?? []).forEach((email, i) => {
            new aws.sns.TopicSubscription(`${name}-email-${i}`, { topic: this.topic.arn, protocol: "email", endpoint: email }, parent);
        });

        this.settings = pulumi.output({
            partition: p,
            evidenceBucket: args.evidence.bucketName,
            evidenceKeyArn: args.evidence.keyArn,
            evidenceRegion: args.evidence.region,
            casesTable: this.casesTable.name,
            topicArn: this.topic.arn,
            stateMachineArn,
            member: {
                responderRolePath: args.memberNames.path,
                responderRoleName: args.memberNames.responderRoleName,
                irProfileName: args.memberNames.irProfileName,
                containedProfileName: args.memberNames.containedProfileName,
                protectedRolePathPrefix: args.memberNames.path,
            },
            isolation: { ...args.isolation, bucketRegions: pulumi.output(args.evidence.region).apply((r) => [...new Set([r, args.region])]) },
            memberAccounts: args.memberAccounts,
            memberRegions: args.memberRegions ?? {},
            guardDutyMinSeverity: args.guardDutyMinSeverity,
            memory: { ...args.memory, buildRequestBus: ENGINE_NAMES.bus },
            disk: args.disk,
        }) as pulumi.Output<RuntimeSettings>;

        const statements = engineStatements(args, this.casesTable.arn, this.topic.arn, stateMachineArn);
        const common = {
            settings: this.settings,
            logRetentionDays: args.logRetentionDays,
            rolePath: args.responderRolePath,
            accountId: acct,
            partition: p,
            region: args.region,
        };
        const define = <E, R>(fnName: string, description: string, extra: Partial<Parameters<typeof engineFunction<E, R>>[1]> & {
            statements: Statement[];
            callbackFactory: () => (event: E, context: unknown) => Promise<R>;
        }) => {
            this.functions[fnName] = engineFunction<E, R>(`${name}-${fnName}`, { ...common, description, timeout: 120, ...extra }, this);
            return this.functions[fnName];
        };

        define("open-case", "opens one case per instance from tag-change and GuardDuty events", {
            // assumeMember: "contained" is read from the instance itself.
            statements: [statements.registry, statements.startCase, statements.notify, statements.assumeMember],
            callbackFactory: handlers.openCaseHandler,
            timeout: 60,
        });
        const triage = define("triage", "records the instance's metadata as evidence", {
            statements: [statements.assumeMember, statements.writeEvidence, statements.encryptEvidence],
            callbackFactory: handlers.triageHandler,
        });
        const isolate = define("isolate", "cuts the instance off, keeping what acquisition needs", {
            statements: [statements.assumeMember, statements.notify],
            callbackFactory: handlers.isolateHandler,
        });
        const record = define("record", "writes the case manifest", {
            // registry: the fallback record when the evidence bucket refuses the manifest.
            statements: [statements.writeEvidence, statements.encryptEvidence, statements.registry],
            callbackFactory: handlers.recordHandler,
            timeout: 60,
        });
        const contain = define("contain", "contains the instance and revokes its credentials", {
            statements: [statements.assumeMember, statements.registry, statements.notify, statements.writeEvidence, statements.encryptEvidence],
            callbackFactory: handlers.containHandler,
        });
        const memory = define("memory", "acquires the instance's memory: SSM command, presigned upload, verification", {
            statements: [
                statements.assumeMember, statements.captureMemory, statements.encryptEvidence, statements.decryptEvidence, ...statements.moduleStore,
                { Sid: "RequestModuleBuilds", Effect: "Allow", Action: "events:PutEvents", Resource: this.bus.arn },
            ],
            callbackFactory: handlers.memoryHandler,
            // Verification rounds read for up to 600 s (DEFAULT_VERIFY_ROUND) and hash on one core: 1769 MB is
            // Lambda's size with one full vCPU, where hash-wasm's SHA-256 (the state that carries between rounds) runs.
            timeout: 900,
            memorySize: 1769,
            packages: ["hash-wasm"],
        });
        const disk = define("disk", "snapshots the volumes and copies them into the forensic account", {
            statements: [statements.assumeMember, statements.assumeCopier],
            callbackFactory: handlers.diskHandler,
            timeout: 300,
        });
        const close = define("close", "closes the case: final manifest, registry, notification", {
            statements: [statements.assumeMember, statements.writeEvidence, statements.encryptEvidence, statements.registry, statements.notify],
            callbackFactory: handlers.closeHandler,
            timeout: 60,
        });

        // A first case in a VPC then finds its groups instead of creating them before the cut.
        this.groupKeeper = define("keep-groups", "keeps the engine's security groups ready in every member VPC", {
            statements: [statements.assumeMember],
            callbackFactory: handlers.groupKeeperHandler,
            timeout: 600,
        });
        const keeperSchedule = new aws.cloudwatch.EventRule(`${name}-keep-groups`, {
            name: "ir-forensics-keep-groups",
            description: "ir-forensics: the engine's security groups in VPCs created since the last run",
            scheduleExpression: KEEPER_SCHEDULE,
        }, parent);
        new aws.cloudwatch.EventTarget(`${name}-keep-groups`, {
            rule: keeperSchedule.name,
            arn: this.groupKeeper.fn.arn,
            retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 2 },
        }, parent);
        new aws.lambda.Permission(`${name}-keep-groups`, {
            action: "lambda:InvokeFunction",
            function: this.groupKeeper.fn.name,
            principal: "events.amazonaws.com",
            sourceArn: keeperSchedule.arn,
        }, parent);

        if (args.slackWebhookUrl) {
            // A SecureString under the account's aws/ssm key (no charge, no key policy to manage); its key
            // policy lets principals of this account decrypt through SSM, so the role needs GetParameter only.
            const webhook = new aws.ssm.Parameter(`${name}-slack-webhook`, {
                name: SLACK_WEBHOOK_PARAMETER,
                description: "ir-forensics: Slack incoming webhook URL (read by the Slack notification function)",
                type: "SecureString",
                value: args.slackWebhookUrl,
            }, parent);
            const settings: SlackSettings = { webhookParameter: SLACK_WEBHOOK_PARAMETER };
            const slack = engineFunction(`${name}-slack`, {
                ...common,
                description: "posts notifications to Slack",
                statements: [{
                    Sid: "ReadWebhook",
                    Effect: "Allow",
                    Action: "ssm:GetParameter",
                    Resource: pulumi.interpolate`arn:${p}:ssm:${args.region}:${acct}:parameter${webhook.name}`,
                }],
                settings,
                callbackFactory: handlers.slackHandler,
                timeout: 30,
            }, this);
            this.functions["slack"] = slack;
            new aws.lambda.Permission(`${name}-slack-from-sns`, {
                action: "lambda:InvokeFunction",
                function: slack.fn.name,
                principal: "sns.amazonaws.com",
                sourceArn: this.topic.arn,
            }, parent);
            new aws.sns.TopicSubscription(`${name}-slack`, { topic: this.topic.arn, protocol: "lambda", endpoint: slack.fn.arn }, parent);
        }

        const logGroup = new aws.cloudwatch.LogGroup(`${name}-incident-logs`, {
            name: `/aws/vendedlogs/states/${ENGINE_NAMES.stateMachine}`,
            retentionInDays: args.logRetentionDays,
        }, parent);
        const steps = [triage, isolate, record, memory, disk, contain, close];
        const machineRole = new aws.iam.Role(`${name}-incident-role`, {
            path: args.responderRolePath,
            description: "ir-forensics incident state machine",
            assumeRolePolicy: serviceTrustPolicy("states.amazonaws.com", acct),
        }, parent);
        const machinePolicy = new aws.iam.RolePolicy(`${name}-incident-policy`, {
            role: machineRole.name,
            policy: policyJson([
                {
                    Sid: "InvokeStepCallbacks",
                    Effect: "Allow",
                    Action: "lambda:InvokeFunction",
                    Resource: steps.flatMap((s) => [s.fn.arn, pulumi.interpolate`${s.fn.arn}:*`]),
                },
                statements.notify,
                {
                    // Vended log delivery and X-Ray take no resource ARN.
                    Sid: "DeliverLogsAndTraces",
                    Effect: "Allow",
                    Action: [
                        "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
                        "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
                        "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
                    ],
                    Resource: "*",
                },
            ]),
        }, parent);
        this.stateMachine = new aws.sfn.StateMachine(`${name}-incident`, {
            name: ENGINE_NAMES.stateMachine,
            type: "STANDARD",
            roleArn: machineRole.arn,
            definition: pulumi.all([triage.fn.arn, isolate.fn.arn, record.fn.arn, memory.fn.arn, disk.fn.arn, contain.fn.arn, close.fn.arn, this.topic.arn])
                .apply(([t, i, r, m, d, c, cl, topicArn]) => JSON.stringify(incidentDefinition(
                    { triage: t, isolate: i, record: r, memory: m, disk: d, contain: c, close: cl },
                    { partition: p, topicArn },
                ))),
            loggingConfiguration: {
                level: "ALL",
                includeExecutionData: true,
                logDestination: pulumi.interpolate`${logGroup.arn}:*`,
            },
            tracingConfiguration: { enabled: true },
        }, { parent: this, dependsOn: [machinePolicy] });

        // Executions that fail (NotContained, a lost record), time out or are aborted page the topic through
        // a function: CloudWatch cannot publish to a topic under the AWS managed SNS key itself.
        const alarmForwarder = define("alarm", "forwards the failed-executions alarm to the notification topic", {
            statements: [statements.notify],
            callbackFactory: handlers.alarmHandler,
            timeout: 30,
        });
        const metric = (id: string, metricName: string) => ({
            id,
            metric: { namespace: "AWS/States", metricName, dimensions: { StateMachineArn: this.stateMachine.arn }, period: 60, stat: "Sum" },
        });
        this.failedExecutionsAlarm = new aws.cloudwatch.MetricAlarm(`${name}-failed-executions`, {
            name: ENGINE_NAMES.failedExecutionsAlarm,
            alarmDescription: "ir-forensics: an incident execution failed (NotContained, record lost), timed out or was aborted",
            comparisonOperator: "GreaterThanOrEqualToThreshold",
            threshold: 1,
            evaluationPeriods: 1,
            treatMissingData: "notBreaching",
            metricQueries: [
                metric("failed", "ExecutionsFailed"),
                metric("timedout", "ExecutionsTimedOut"),
                metric("aborted", "ExecutionsAborted"),
                { id: "ended", expression: "SUM([FILL(failed, 0), FILL(timedout, 0), FILL(aborted, 0)])", label: "executions ended without success", returnData: true },
            ],
            alarmActions: [alarmForwarder.fn.arn],
            okActions: [alarmForwarder.fn.arn],
        }, parent);
        new aws.lambda.Permission(`${name}-alarm-invoke`, {
            action: "lambda:InvokeFunction",
            function: alarmForwarder.fn.name,
            principal: "lambda.alarms.cloudwatch.amazonaws.com",
            sourceArn: this.failedExecutionsAlarm.arn,
            sourceAccount: acct,
        }, parent);

        // Cases open from the engine bus (member rules forward there) and, for findings, from this account's
        // default bus (a GuardDuty or Security Hub administrator account receives every member's findings).
        const opener = this.functions["open-case"];
        for (const [pattern, eventPattern] of Object.entries(args.patterns)) {
            const buses: Array<[string, pulumi.Input<string> | undefined]> = [["engine", this.bus.name]];
            if (pattern === "guardduty" || pattern === "securityhub-findings") {
                buses.push(["default", undefined]);
            }
            for (const [busLabel, busName] of buses) {
                const ruleName = `${name}-${pattern}-${busLabel}`;
                const rule = new aws.cloudwatch.EventRule(ruleName, {
                    name: `ir-forensics-${pattern}`,
                    eventBusName: busName,
                    description: `ir-forensics: ${pattern} events open cases`,
                    eventPattern: JSON.stringify(eventPattern),
                }, parent);
                new aws.cloudwatch.EventTarget(ruleName, {
                    rule: rule.name,
                    eventBusName: busName,
                    arn: opener.fn.arn,
                    retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 20 },
                }, parent);
                new aws.lambda.Permission(ruleName, {
                    action: "lambda:InvokeFunction",
                    function: opener.fn.name,
                    principal: "events.amazonaws.com",
                    sourceArn: rule.arn,
                }, parent);
                this.rules[busLabel === "engine" ? pattern : `${pattern}-${busLabel}`] = rule;
            }
        }

        this.registerOutputs({
            busArn: this.bus.arn,
            stateMachineArn: this.stateMachine.arn,
            casesTableName: this.casesTable.name,
            topicArn: this.topic.arn,
        });
    }
}

/** The permission sets the engine's callbacks are composed from (each callback gets only what it uses). */
function engineStatements(args: ResponseEngineArgs, tableArn: pulumi.Input<string>, topicArn: pulumi.Input<string>, stateMachineArn: string) {
    const p = args.partition;
    return {
        assumeMember: {
            Sid: "AssumeMemberResponderRoles",
            Effect: "Allow",
            Action: "sts:AssumeRole",
            Resource: args.memberAccounts.length > 0
                ? args.memberAccounts.map((a) => `arn:${p}:iam::${a}:role${args.memberNames.path}${args.memberNames.responderRoleName}`)
                // No member yet: a role that cannot exist, so that the statement stays valid and grants nothing.
                : [`arn:${p}:iam::${args.accountId}:role${args.memberNames.path}no-member-configured`],
        } satisfies Statement,
        writeEvidence: {
            Sid: "WriteCaseEvidence",
            Effect: "Allow",
            Action: "s3:PutObject",
            Resource: pulumi.interpolate`${args.evidence.bucketArn}/cases/*`,
        } satisfies Statement,
        encryptEvidence: {
            Sid: "EncryptCaseEvidence",
            Effect: "Allow",
            Action: ["kms:GenerateDataKey", "kms:Encrypt"],
            Resource: args.evidence.keyArn,
        } satisfies Statement,
        registry: {
            Sid: "CaseRegistry",
            Effect: "Allow",
            Action: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            Resource: tableArn,
        } satisfies Statement,
        startCase: {
            Sid: "StartAndCheckCases",
            Effect: "Allow",
            Action: ["states:StartExecution", "states:DescribeExecution"],
            Resource: [stateMachineArn, `arn:${p}:states:${args.region}:${args.accountId}:execution:${ENGINE_NAMES.stateMachine}:*`],
        } satisfies Statement,
        notify: {
            Sid: "Notify",
            Effect: "Allow",
            Action: "sns:Publish",
            Resource: topicArn,
        } satisfies Statement,
        captureMemory: {
            // Presigned UploadParts act with this role's permissions; the image is re-read to hash it.
            Sid: "CaptureMemoryIntoEvidence",
            Effect: "Allow",
            // HeadObject and GetObject of the completed upload name its version: s3:GetObjectVersion.
            Action: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            Resource: pulumi.interpolate`${args.evidence.bucketArn}/cases/*/memory/*`,
        } satisfies Statement,
        decryptEvidence: {
            Sid: "DecryptCaseEvidence",
            Effect: "Allow",
            Action: "kms:Decrypt",
            Resource: args.evidence.keyArn,
        } satisfies Statement,
        moduleStore: moduleStoreStatements(p, args.region, args.accountId, args.memory.moduleStoreBucket),
        assumeCopier: {
            Sid: "AssumeEvidenceCopier",
            Effect: "Allow",
            Action: "sts:AssumeRole",
            Resource: args.disk.copierRoleArn,
        } satisfies Statement,
    };
}

/**
 * The memory function's use of the module store: presigned GETs of the index, modules and AVML (the
 * suspect host fetches them with this role's permissions), and the captures' session files.
 */
function moduleStoreStatements(partition: string, region: string, account: string, bucket: string): Statement[] {
    const object = (key: string) => `arn:${partition}:s3:::${bucket}/${key}`;
    return [
        {
            Sid: "ReadModuleStore",
            Effect: "Allow",
            Action: "s3:GetObject",
            Resource: [object("index.json"), object("lime/*"), object("avml/*"), object("sessions/*")],
        },
        {
            Sid: "WriteCaptureSessions",
            Effect: "Allow",
            Action: "s3:PutObject",
            Resource: object("sessions/*"),
        },
        {
            // The store's key, named by what it encrypts (the key is the module factory's). The store uses an S3
            // Bucket Key, under which S3's encryption context is the bucket's ARN, not the object's (S3 User
            // Guide, "Reducing the cost of SSE-KMS with Amazon S3 Bucket Keys").
            Sid: "ModuleStoreKeyThroughS3",
            Effect: "Allow",
            Action: ["kms:Decrypt", "kms:GenerateDataKey"],
            Resource: `arn:${partition}:kms:${region}:${account}:key/*`,
            Condition: {
                StringEquals: {
                    "kms:ViaService": `s3.${region}.amazonaws.com`,
                    "kms:EncryptionContext:aws:s3:arn": `arn:${partition}:s3:::${bucket}`,
                },
            },
        },
    ];
}
