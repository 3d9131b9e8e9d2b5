/**
 * One Lambda callback of the response engine with its own least-privilege role and log group. The
 * callback's code is serialized by Pulumi from a closure that calls a plain function of `functions/`;
 * SDK clients are made in `callbackFactory` (once per container), never captured.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SETTINGS_VARIABLE } from "../../functions/shared/runtime";
import { policyJson, serviceTrustPolicy, Statement } from "./iam";

/**
 * Packages the Lambda runtime already provides (nodejs22.x ships the AWS SDK v3): excluded from the
 * archive, which otherwise carries every dependency of package.json (49 MB measured).
 */
export const RUNTIME_PROVIDED_PACKAGES = [
    "@aws-sdk/client-auto-scaling", "@aws-sdk/client-cloudtrail", "@aws-sdk/client-dynamodb", "@aws-sdk/client-ec2", "@aws-sdk/client-elastic-load-balancing",
    "@aws-sdk/client-elastic-load-balancing-v2", "@aws-sdk/client-eventbridge", "@aws-sdk/client-iam", "@aws-sdk/client-kms",
    "@aws-sdk/client-s3", "@aws-sdk/client-sfn", "@aws-sdk/client-sns", "@aws-sdk/client-sqs", "@aws-sdk/client-ssm", "@aws-sdk/client-sts",
];

/** Dependencies used only by the Pulumi program at deploy time, never by a callback. */
export const DEPLOY_TIME_PACKAGES = ["@pulumi/awsx", "@pulumi/command", "zod"];

/**
 * Dependencies some callbacks need and Lambda's runtime lacks: packaged only into the functions that name
 * them in `packages` (hash-wasm, 2.1 MB, serves the memory function's resumable SHA-256 only).
 */
export const FUNCTION_PACKAGES = ["hash-wasm"];

export interface EngineFunctionArgs<E, R> {
    description: string;
    /** Permissions beyond writing its own logs. */
    statements: Statement[];
    /** Builds the handler once per container: create SDK clients here. */
    callbackFactory: () => (event: E, context: unknown) => Promise<R>;
    /** JSON-serializable settings, passed as the `IRF_SETTINGS` environment variable. */
    settings: pulumi.Input<object>;
    /** Seconds. */
    timeout: number;
    /** MB. */
    memorySize?: number;
    /** Which of {@link FUNCTION_PACKAGES} its code needs (packaged with it); default none. */
    packages?: string[];
    logRetentionDays: number;
    /** IAM path of the role (the responder path for roles that touch evidence or member accounts). */
    rolePath: string;
    accountId: string;
    partition: string;
    region: string;
}

export interface EngineFunction {
    fn: aws.lambda.CallbackFunction<unknown, unknown>;
    role: aws.iam.Role;
    logGroup: aws.cloudwatch.LogGroup;
}

/** Creates the role, log group and callback function `name`, all children of `parent`. */
export function engineFunction<E, R>(name: string, args: EngineFunctionArgs<E, R>, parent: pulumi.Resource): EngineFunction {
    const opts = { parent };
    const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, {
        name: `/aws/lambda/ir-forensics-${name}`,
        retentionInDays: args.logRetentionDays,
    }, opts);
    const role = new aws.iam.Role(`${name}-role`, {
        path: args.rolePath,
        description: `ir-forensics ${name}: ${args.description}`,
        assumeRolePolicy: serviceTrustPolicy("lambda.amazonaws.com", args.accountId),
        maxSessionDuration: 3600,
    }, opts);
    const policy = new aws.iam.RolePolicy(`${name}-policy`, {
        role: role.name,
        policy: policyJson([
            {
                Sid: "WriteOwnLogs",
                Effect: "Allow",
                Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
                Resource: pulumi.interpolate`${logGroup.arn}:*`,
            },
            {
                // X-Ray tracing (tracingConfig Active); these actions take no resource.
                Sid: "WriteTraces",
                Effect: "Allow",
                Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                Resource: "*",
            },
            ...args.statements,
        ]),
    }, opts);
    const fn = new aws.lambda.CallbackFunction<E, R>(name, {
        name: `ir-forensics-${name}`,
        description: `ir-forensics: ${args.description}`,
        role,
        runtime: aws.lambda.Runtime.NodeJS22dX,
        timeout: args.timeout,
        memorySize: args.memorySize ?? 256,
        callbackFactory: args.callbackFactory,
        environment: { variables: { [SETTINGS_VARIABLE]: pulumi.jsonStringify(args.settings), NODE_OPTIONS: "--enable-source-maps" } },
        loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
        tracingConfig: { mode: "Active" },
        codePathOptions: {
            extraExcludePackages: [...RUNTIME_PROVIDED_PACKAGES, ...DEPLOY_TIME_PACKAGES, ...FUNCTION_PACKAGES.filter((p) => !(args.packages ?? []).includes(p))],
        },
    }, { parent, dependsOn: [policy, logGroup] });
    return { fn: fn as unknown as aws.lambda.CallbackFunction<unknown, unknown>, role, logGroup };
}
