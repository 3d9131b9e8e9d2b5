/**
 * The credentials the strict layer knows, and who each belongs to: the harness's own keys (each
 * account's root, for setting the emulator up), the session credentials moto issued for AssumeRole
 * (read from the responses as they pass), IAM user keys (from CreateAccessKey responses), and the
 * credentials the layer itself obtains for a Lambda function's execution role or an instance profile,
 * as those services would. A key the store does not know is refused, as AWS refuses it.
 */
import { Principal } from "./types";

/** The secret every harness key uses (emulator/aws/aws-clients.ts TEST_CREDENTIALS). */
export const HARNESS_SECRET = "test";
/** `test` (account from the x-moto-account-id header) or `test-<account>` (for presigned harness URLs). */
const HARNESS_KEY = /^test(?:-(\d{12}))?$/;
/** moto's account for requests that name none. */
export const DEFAULT_ACCOUNT = "123456789012";

export interface StoredCredential {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken?: string;
    expiresAt?: Date;
    principal: Principal;
}

/** The root principal of `account`, as the harness acts. */
export function harnessRoot(account: string): Principal {
    return { kind: "root", arn: `arn:aws:iam::${account}:root`, account, harness: true };
}

/** Fields of an STS AssumeRole response (query protocol XML). */
export interface AssumedCredentials {
    accessKeyId: string;
    secretAccessKey: string;
    sessionToken: string;
    expiration: Date;
    assumedRoleArn: string;
}

function tag(xml: string, name: string): string | undefined {
    return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
}

/** The credentials in an AssumeRole response body; undefined when it holds none. */
export function parseAssumeRoleResponse(xml: string): AssumedCredentials | undefined {
    const accessKeyId = tag(xml, "AccessKeyId");
    const secretAccessKey = tag(xml, "SecretAccessKey");
    const sessionToken = tag(xml, "SessionToken");
    const expiration = tag(xml, "Expiration");
    const assumedRoleArn = tag(xml, "Arn");
    if (!accessKeyId || !secretAccessKey || !sessionToken || !expiration || !assumedRoleArn) {
        return undefined;
    }
    return { accessKeyId, secretAccessKey, sessionToken, expiration: new Date(expiration), assumedRoleArn };
}

/** The key in a CreateAccessKey response body. */
export function parseCreateAccessKeyResponse(xml: string): { userName: string; accessKeyId: string; secretAccessKey: string } | undefined {
    const userName = tag(xml, "UserName");
    const accessKeyId = tag(xml, "AccessKeyId");
    const secretAccessKey = tag(xml, "SecretAccessKey");
    return userName && accessKeyId && secretAccessKey ? { userName, accessKeyId, secretAccessKey } : undefined;
}

export class CredentialStore {
    private readonly known = new Map<string, StoredCredential>();

    /** The credential and principal of an access key; `accountHeader` picks the account of the `test` key. */
    lookup(accessKeyId: string, accountHeader?: string): StoredCredential | undefined {
        const harness = HARNESS_KEY.exec(accessKeyId);
        if (harness) {
            const account = harness[1] ?? (accountHeader && /^\d{12}$/.test(accountHeader) ? accountHeader : DEFAULT_ACCOUNT);
            return { accessKeyId, secretAccessKey: HARNESS_SECRET, principal: harnessRoot(account) };
        }
        return this.known.get(accessKeyId);
    }

    add(credential: StoredCredential): void {
        this.known.set(credential.accessKeyId, credential);
    }

    /** Forgets every issued credential (the harness keys stay valid): after a reset of moto. */
    clear(): void {
        this.known.clear();
    }

    get size(): number {
        return this.known.size;
    }
}
