/**
 * Evidence fixtures that another account writes to, as the stacks set them up: on AWS (and under the
 * strict layer) a bucket or key of the forensic account admits the engine's account only when its own
 * policy says so.
 */
import { CreateKeyCommand } from "@aws-sdk/client-kms";
import { PutBucketPolicyCommand } from "@aws-sdk/client-s3";
import { AccountClients } from "../../emulator/aws/aws-clients";

const doc = (...Statement: object[]) => JSON.stringify({ Version: "2012-10-17", Statement });

/** A KMS key of the forensic account that `accounts` may use through S3 (and the forensic account administers). */
export async function sharedEvidenceKey(forensic: AccountClients, owner: string, accounts: string[], description: string): Promise<string> {
    const key = await forensic.kms.send(new CreateKeyCommand({
        Description: description,
        Policy: doc(
            { Sid: "AccountAdministration", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${owner}:root` }, Action: "kms:*", Resource: "*" },
            {
                Sid: "EngineUsesKey", Effect: "Allow", Principal: { AWS: accounts.map((a) => `arn:aws:iam::${a}:root`) },
                Action: ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], Resource: "*",
            },
        ),
    }));
    return key.KeyMetadata?.Arn ?? "";
}

/** Lets `accounts` write, read and list the bucket's objects (the stack's RespondersWriteCases, for any principal of theirs). */
export async function shareEvidenceBucket(forensic: AccountClients, bucket: string, accounts: string[]): Promise<void> {
    await forensic.s3.send(new PutBucketPolicyCommand({
        Bucket: bucket,
        Policy: doc(
            {
                Sid: "EngineWritesCases", Effect: "Allow", Principal: { AWS: accounts.map((a) => `arn:aws:iam::${a}:root`) },
                Action: ["s3:PutObject", "s3:GetObject", "s3:GetObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                Resource: `arn:aws:s3:::${bucket}/*`,
            },
            {
                Sid: "EngineLists", Effect: "Allow", Principal: { AWS: accounts.map((a) => `arn:aws:iam::${a}:root`) },
                Action: ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"], Resource: `arn:aws:s3:::${bucket}`,
            },
        ),
    }));
}
