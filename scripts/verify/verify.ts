/**
 * `npm run verify -- <case-id> --bucket <evidence bucket> [--region r] [--endpoint url --account id] [--json]`
 *
 * Re-reads every artifact of a case from the evidence bucket, recomputes its SHA-256 and compares it with
 * the case manifest (functions/acquisition/verify.ts); evidence snapshots are looked up in the forensic account.
 * Credentials come from the usual AWS chain (an investigator role of the forensic account reads evidence);
 * `--endpoint` points at an emulator, `--account` picks its account. Exit code 0 only when every artifact
 * matched its record.
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import { S3Client } from "@aws-sdk/client-s3";
import { CaseVerification, verifyCase } from "../../functions/acquisition/verify";
import { TEST_CREDENTIALS, forAccount } from "../../emulator/aws/aws-clients";

const USAGE = "usage: npm run verify -- <case-id> --bucket <evidence bucket> [--region <region>] [--endpoint <url> --account <id>] [--json]";

export interface VerifyArgs {
    caseId: string;
    bucket: string;
    region?: string;
    endpoint?: string;
    account?: string;
    json: boolean;
}

export function parseArgs(argv: string[]): VerifyArgs {
    const args = [...argv];
    const option = (name: string): string | undefined => {
        const i = args.indexOf(name);
        if (i < 0) {
            return undefined;
        }
        const value = args[i + 1];
        if (!value || value.startsWith("--")) {
            throw new Error(`${name} needs a value\n${USAGE}`);
        }
        args.splice(i, 2);
        return value;
    };
    const bucket = option("--bucket") ?? process.env.IRF_EVIDENCE_BUCKET;
    const region = option("--region");
    const endpoint = option("--endpoint");
    const account = option("--account");
    const json = args.includes("--json");
    const rest = args.filter((a) => a !== "--json");
    if (rest.length !== 1 || rest[0].startsWith("--") || !bucket) {
        throw new Error(USAGE);
    }
    if (account && !endpoint) {
        throw new Error(`--account only applies with --endpoint (an emulator)\n${USAGE}`);
    }
    return { caseId: rest[0], bucket, region, endpoint, account, json };
}

export function formatVerification(v: CaseVerification): string {
    const lines = [`case ${v.caseId}  manifest ${v.manifestStatus ?? "?"} (version ${v.manifestVersionId ?? "?"})  ${v.ok ? "VERIFIED" : "NOT VERIFIED"}`];
    if (v.error) {
        lines.push(`  ${v.error}`);
    }
    for (const a of v.artifacts) {
        const size = a.found?.bytes ?? a.expected.bytes;
        const lock = a.found?.objectLock ? `  locked ${a.found.objectLock.mode} until ${a.found.objectLock.retainUntil}` : "";
        lines.push(`  ${a.verdict.padEnd(22)} ${a.kind.padEnd(13)} ${a.target}${size !== undefined ? `  ${size} B` : ""}${lock}`);
        for (const p of a.problems) {
            lines.push(`      ${p}`);
        }
    }
    return lines.join("\n");
}

async function main(argv: string[]): Promise<void> {
    const args = parseArgs(argv);
    const config = {
        ...(args.region ? { region: args.region } : {}),
        ...(args.endpoint ? { endpoint: args.endpoint, forcePathStyle: true, credentials: TEST_CREDENTIALS, region: args.region ?? "us-east-1" } : {}),
    };
    const s3 = new S3Client(config);
    const ec2 = new EC2Client(config);
    if (args.account) {
        forAccount(s3, args.account);
        forAccount(ec2, args.account);
    }
    try {
        const result = await verifyCase(args.caseId, { s3, bucket: args.bucket, ec2 });
        console.log(args.json ? JSON.stringify(result, null, 2) : formatVerification(result));
        process.exitCode = result.ok ? 0 : 2;
    } finally {
        s3.destroy();
        ec2.destroy();
    }
}

/** `npm run verify -- <case-id> [options]`: exit 0 when every artifact of the case verifies. */
export function cli(): void {
    main(process.argv.slice(2)).catch((err: unknown) => {
        console.error(err instanceof Error ? err.message : String(err));
        process.exitCode = 1;
    });
}
