/**
 * `npm run cases -- <command>`: the responder's case commands (functions/response/caseCommands.ts).
 *
 *   list [--open] [--since 7d] [--json]
 *   show <case-id> [--json] [--no-verify]
 *   release <case-id> --reason "…" [--rejoin] [--unprotect] [--json]
 *
 * Credentials and profiles as the AWS CLI takes them: the default chain or `--profile` for the security
 * account (case table, executions, the evidence bucket's `cases/` as a responder, the member release role),
 * `--forensic-profile` for the forensic account (evidence snapshots, optional). Where the engine is: flags,
 * else environment variables, else `--stack-outputs <file>` (`pulumi stack output --json -s security`):
 *
 *   --table           IRF_CASES_TABLE        casesTableName
 *   --state-machine   IRF_STATE_MACHINE_ARN  stateMachineArn
 *   --bucket          IRF_EVIDENCE_BUCKET    evidenceBucketName
 *   --evidence-key    IRF_EVIDENCE_KEY_ARN   evidenceKeyArn   (default: the current manifest version's key)
 *   --member-role     IRF_MEMBER_ROLE        path and name of the member role, default /ir-forensics/ir-forensics-releaser
 *
 * `--endpoint <url>` points every client at an emulator; with `--account <id>` the emulator's harness keys
 * of that account are used (as `npm run verify` does), otherwise the usual credential chain.
 * Exit code 0 on success, 1 with one line on stderr naming what was asked and why it failed.
 */
import * as fs from "fs";
import { parseArgs } from "util";
import { AutoScalingClient } from "@aws-sdk/client-auto-scaling";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ElasticLoadBalancingClient } from "@aws-sdk/client-elastic-load-balancing";
import { ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { IAMClient } from "@aws-sdk/client-iam";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { assumedCredentials, errorText, MemberClientFactory } from "../../functions/shared/aws";
import {
    CaseCommandClients, CaseCommandConfig, CaseCommandError, DEFAULT_RELEASER_ROLE, formatChange, formatList, formatRelease, formatShow, listCases, parseDuration, releaseCase, showCase,
} from "../../functions/response/caseCommands";
import { forAccount, TEST_CREDENTIALS } from "../../emulator/aws/aws-clients";

export const USAGE = [
    "usage: npm run cases -- <command> [options]",
    "  list [--open] [--since 7d] [--json]",
    "  show <case-id> [--json] [--no-verify]",
    "  release <case-id> --reason \"…\" [--rejoin] [--unprotect] [--json]",
    "options: --profile P --forensic-profile P --region R --forensic-region R --table T --state-machine ARN --bucket B",
    "         --evidence-key ARN --member-role /path/name --stack-outputs FILE --endpoint URL [--account ID]",
].join("\n");

const CONTAINED_PROFILE = "ir-forensics-contained";
const IR_PROFILE = "ir-forensics-ir-instance";

export interface CasesArgs {
    command: "list" | "show" | "release";
    caseId?: string;
    json: boolean;
    open: boolean;
    since?: string;
    reason?: string;
    rejoin: boolean;
    unprotect: boolean;
    verify: boolean;
    profile?: string;
    forensicProfile?: string;
    region?: string;
    forensicRegion?: string;
    table: string;
    stateMachineArn?: string;
    bucket: string;
    evidenceKeyArn?: string;
    memberRole: string;
    endpoint?: string;
    account?: string;
}

class UsageError extends Error {}

/** Parses the command line; a missing setting is named with its flag, variable and stack output. */
export function parseCasesArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): CasesArgs {
    let parsed;
    try {
        parsed = parseArgs({
            args: argv, allowPositionals: true, strict: true,
            options: {
                "json": { type: "boolean", default: false }, "open": { type: "boolean", default: false }, "since": { type: "string" },
                "reason": { type: "string" }, "rejoin": { type: "boolean", default: false }, "unprotect": { type: "boolean", default: false },
                "no-verify": { type: "boolean", default: false }, "profile": { type: "string" }, "forensic-profile": { type: "string" },
                "region": { type: "string" }, "forensic-region": { type: "string" }, "table": { type: "string" }, "state-machine": { type: "string" },
                "bucket": { type: "string" }, "evidence-key": { type: "string" }, "member-role": { type: "string" }, "stack-outputs": { type: "string" },
                "endpoint": { type: "string" }, "account": { type: "string" }, "help": { type: "boolean", default: false },
            },
        });
    } catch (err) {
        throw new UsageError(`${errorText(err)}\n${USAGE}`);
    }
    const { values, positionals } = parsed;
    if (values.help) {
        throw new UsageError(USAGE);
    }
    const [command, caseId, ...extra] = positionals;
    if (command !== "list" && command !== "show" && command !== "release") {
        throw new UsageError(`${command ? `unknown command "${command}"` : "no command"}\n${USAGE}`);
    }
    if (command === "list" ? caseId !== undefined : caseId === undefined || extra.length > 0) {
        throw new UsageError(`${command === "list" ? "list takes no case id" : `${command} takes one case id`}\n${USAGE}`);
    }
    if (command === "release" && !values.reason?.trim()) {
        throw new UsageError(`release needs --reason "…" (it is written into the case's manifest)\n${USAGE}`);
    }
    if (values.account && !values.endpoint) {
        throw new UsageError(`--account only applies with --endpoint (an emulator)\n${USAGE}`);
    }
    let outputs: Record<string, unknown> = {};
    const outputsFile = values["stack-outputs"] ?? env.IRF_STACK_OUTPUTS;
    if (outputsFile) {
        try {
            outputs = JSON.parse(fs.readFileSync(outputsFile, "utf8")) as Record<string, unknown>;
        } catch (err) {
            throw new UsageError(`--stack-outputs ${outputsFile}: ${errorText(err)}`);
        }
    }
    const setting = (flag: string, variable: string, output: string, required: boolean): string | undefined => {
        const value = (values as Record<string, unknown>)[flag] as string | undefined ?? env[variable] ?? (typeof outputs[output] === "string" ? outputs[output] as string : undefined);
        if (required && !value) {
            throw new UsageError(`missing --${flag} (or ${variable}, or ${output} in --stack-outputs): ${command} needs it`);
        }
        return value;
    };
    return {
        command, caseId, json: values.json, open: values.open, since: values.since, reason: values.reason, rejoin: values.rejoin, unprotect: values.unprotect,
        verify: !values["no-verify"], profile: values.profile, forensicProfile: values["forensic-profile"],
        region: values.region ?? (typeof outputs.region === "string" ? outputs.region : undefined), forensicRegion: values["forensic-region"],
        table: setting("table", "IRF_CASES_TABLE", "casesTableName", true) as string,
        bucket: setting("bucket", "IRF_EVIDENCE_BUCKET", "evidenceBucketName", true) as string,
        stateMachineArn: setting("state-machine", "IRF_STATE_MACHINE_ARN", "stateMachineArn", command !== "list"),
        evidenceKeyArn: setting("evidence-key", "IRF_EVIDENCE_KEY_ARN", "evidenceKeyArn", false),
        memberRole: setting("member-role", "IRF_MEMBER_ROLE", "memberReleaserRole", false) ?? DEFAULT_RELEASER_ROLE,
        endpoint: values.endpoint, account: values.account,
    };
}

interface Io {
    env: NodeJS.ProcessEnv;
    stdout: (text: string) => void;
    stderr: (text: string) => void;
}

/** Clients as the AWS CLI would make them: the profile or the environment's credentials; an emulator's endpoint. */
function clientsOf(args: CasesArgs, env: NodeJS.ProcessEnv): { clients: CaseCommandClients; config: CaseCommandConfig; destroy: () => void; partition: Promise<string> } {
    const region = args.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    const fromEnv = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY && !args.profile
        ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) }
        : undefined;
    const base = {
        ...(region ? { region } : {}),
        ...(args.profile ? { profile: args.profile } : {}),
        ...(fromEnv ? { credentials: fromEnv } : {}),
        ...(args.endpoint ? { endpoint: args.endpoint, region: region ?? "eu-west-1" } : {}),
        ...(args.account ? { credentials: { ...TEST_CREDENTIALS } } : {}),
        maxAttempts: 3,
    };
    const pin = <T extends { middlewareStack: { add: (...a: never[]) => void } }>(c: T): T => (args.account ? forAccount(c, args.account) : c);
    const s3Config = { ...base, forcePathStyle: args.endpoint !== undefined, followRegionRedirects: true, ...(args.forensicRegion ? { region: args.forensicRegion } : {}) };
    const sts = pin(new STSClient(base));
    const made: { destroy: () => void }[] = [sts];
    const keep = <T extends { destroy: () => void }>(c: T): T => {
        made.push(c);
        return c;
    };
    const forensicBase = args.forensicProfile ? { ...base, profile: args.forensicProfile, credentials: undefined, ...(args.forensicRegion ? { region: args.forensicRegion } : {}) } : undefined;
    const [path, name] = (() => {
        const i = args.memberRole.lastIndexOf("/");
        return i < 0 ? ["/", args.memberRole] : [args.memberRole.slice(0, i + 1) || "/", args.memberRole.slice(i + 1)];
    })();
    let partition: Promise<string> | undefined;
    const partitionOf = () => {
        partition ??= sts.send(new GetCallerIdentityCommand({})).then((out) => out.Arn?.split(":")[1] ?? "aws", () => "aws");
        return partition;
    };
    const member: MemberClientFactory = async (instance, sessionName) => {
        const roleArn = `arn:${await partitionOf()}:iam::${instance.accountId}:role${path}${name}`;
        const credentials = await assumedCredentials(sts, roleArn, sessionName).catch((err: unknown) => {
            throw new Error(`sts:AssumeRole ${roleArn}: ${errorText(err)}`);
        });
        const config = { region: instance.region, credentials, maxAttempts: 3, ...(args.endpoint ? { endpoint: args.endpoint } : {}) };
        return {
            ec2: keep(new EC2Client(config)), autoScaling: keep(new AutoScalingClient(config)), elbv2: keep(new ElasticLoadBalancingV2Client(config)),
            elb: keep(new ElasticLoadBalancingClient(config)), iam: keep(new IAMClient({ ...config, region: args.endpoint ? instance.region : "us-east-1" })),
        };
    };
    const clients: CaseCommandClients = {
        dynamodb: keep(pin(new DynamoDBClient(base))),
        sfn: keep(pin(new SFNClient(base))),
        s3: keep(pin(new S3Client(s3Config))),
        sts,
        ...(forensicBase ? { forensicEc2: keep(new EC2Client(forensicBase)) } : {}),
        member,
    };
    const config: CaseCommandConfig = {
        table: args.table, bucket: args.bucket, stateMachineArn: args.stateMachineArn, evidenceKeyArn: args.evidenceKeyArn, partition: "aws",
        member: { containedProfileName: CONTAINED_PROFILE, irProfileName: IR_PROFILE },
    };
    return { clients, config, destroy: () => made.forEach((c) => c.destroy()), partition: partitionOf() };
}

/** Runs one command; returns its exit code. Output through `io` (tests run it in process). */
export async function runCasesCli(argv: string[], io: Partial<Io> = {}): Promise<number> {
    const out = io.stdout ?? ((t: string) => process.stdout.write(t));
    const err = io.stderr ?? ((t: string) => process.stderr.write(t));
    const env = io.env ?? process.env;
    let args: CasesArgs;
    try {
        args = parseCasesArgs(argv, env);
    } catch (e) {
        err(`${errorText(e).replace(/^UsageError: /, "")}\n`);
        return argv.includes("--help") ? 0 : 1;
    }
    const what = args.command === "list" ? "cases list" : `cases ${args.command} ${args.caseId}`;
    const made = clientsOf(args, env);
    try {
        made.config.partition = await made.partition;
        if (args.command === "list") {
            const cases = await listCases(made.clients, made.config, { open: args.open, ...(args.since ? { sinceMs: parseDuration(args.since) } : {}) });
            out(`${args.json ? JSON.stringify(cases, null, 2) : formatList(cases)}\n`);
            return 0;
        }
        if (args.command === "show") {
            const view = await showCase(made.clients, made.config, args.caseId as string, { verify: args.verify });
            out(`${args.json ? JSON.stringify(view, null, 2) : formatShow(view)}\n`);
            if (view.instanceError) {
                err(`${what}: ${view.instanceError}\n`);
                return 1;
            }
            return 0;
        }
        const result = await releaseCase(made.clients, made.config, args.caseId as string, {
            reason: args.reason as string, rejoin: args.rejoin, unprotect: args.unprotect,
            // Each change is printed as it is made: a failure later still shows what was changed.
            onChange: (c) => (args.json ? err(`${formatChange(c)}\n`) : out(`${formatChange(c)}\n`)),
        });
        out(`${args.json ? JSON.stringify(result, null, 2) : formatRelease(result)}\n`);
        return 0;
    } catch (e) {
        const changes = e instanceof CaseCommandError ? e.changes : [];
        const made = changes.length > 0 ? ` (changed before the failure: ${changes.map((c) => `${c.action} ${c.target}`).join("; ")})` : "";
        err(`${what}: ${errorText(e).replace(/^CaseCommandError: /, "").replace(/\s*\n\s*/g, " ")}${made}\n`);
        return 1;
    } finally {
        made.destroy();
    }
}

/** `npm run cases -- <list|show|release> ...`: the exit code is the command's. */
export function cli(): void {
    runCasesCli(process.argv.slice(2)).then((code) => {
        process.exitCode = code;
    }, (e: unknown) => {
        process.stderr.write(`cases: ${errorText(e)}\n`);
        process.exitCode = 1;
    });
}
