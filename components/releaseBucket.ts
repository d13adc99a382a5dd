import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseArtifact, sdistFileName } from "./artifacts";

/** The object key of a release in the bucket. */
export function releaseObjectKey(version: string): string {
    return `releases/${sdistFileName(version)}`;
}

/** Arguments of a ReleaseBucket. */
export interface ReleaseBucketArgs {
    /** The releases to archive (every version the fleet runs). */
    releases: ReleaseArtifact[];
    /** Days an overwritten or deleted object version is kept before S3 expires it. */
    noncurrentVersionDays?: number;
}

/**
 * The release archive: a private, versioned, encrypted S3 bucket with one object per release at
 * `releases/WeaveServer-<version>.tar.gz`, carrying its sha256. Every resource here is retained on
 * delete: a release leaving the stack stays in the archive, and `pulumi destroy` forgets the bucket
 * (with its objects, versioning, encryption, public-access block, ownership, policy and lifecycle
 * still in force) instead of failing on a non-empty bucket. Nothing shipped is ever lost; removing
 * the archive is a deliberate step outside the stack.
 */
export class ReleaseBucket extends pulumi.ComponentResource {
    /** The bucket. */
    public readonly bucket: aws.s3.Bucket;
    /** The bucket name. */
    public readonly bucketName: pulumi.Output<string>;
    /** One object per release, by version. */
    public readonly objects: Record<string, aws.s3.BucketObjectv2>;

    constructor(name: string, args: ReleaseBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("sync:release:ReleaseBucket", name, {}, opts);
        // Retained, not deleted: see the class comment.
        const child = { parent: this, retainOnDelete: true };

        this.bucket = new aws.s3.Bucket(name, { forceDestroy: false }, child);
        const bucket = this.bucket.id;

        const versioning = new aws.s3.BucketVersioning(
            `${name}-versioning`,
            { bucket, versioningConfiguration: { status: "Enabled" } },
            child,
        );
        new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket,
                rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
            },
            child,
        );
        const publicAccess = new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access`,
            {
                bucket,
                blockPublicAcls: true,
                blockPublicPolicy: true,
                ignorePublicAcls: true,
                restrictPublicBuckets: true,
            },
            child,
        );
        new aws.s3.BucketOwnershipControls(
            `${name}-ownership`,
            { bucket, rule: { objectOwnership: "BucketOwnerEnforced" } },
            child,
        );
        new aws.s3.BucketPolicy(
            `${name}-tls-only`,
            {
                bucket,
                policy: pulumi.jsonStringify({
                    Version: "2012-10-17",
                    Statement: [
                        {
                            Sid: "DenyInsecureTransport",
                            Effect: "Deny",
                            Principal: "*",
                            Action: "s3:*",
                            Resource: [this.bucket.arn, pulumi.interpolate`${this.bucket.arn}/*`],
                            Condition: { Bool: { "aws:SecureTransport": "false" } },
                        },
                    ],
                }),
            },
            { ...child, dependsOn: [publicAccess] },
        );
        new aws.s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            {
                bucket,
                rules: [
                    {
                        id: "expire-old-noncurrent-versions",
                        status: "Enabled",
                        filter: { prefix: "releases/" },
                        noncurrentVersionExpiration: { noncurrentDays: args.noncurrentVersionDays ?? 90 },
                        abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
                    },
                ],
            },
            { ...child, dependsOn: [versioning] },
        );

        this.objects = {};
        for (const release of args.releases) {
            this.objects[release.version] = new aws.s3.BucketObjectv2(
                `${name}-${release.version}`,
                {
                    bucket,
                    key: releaseObjectKey(release.version),
                    source: new pulumi.asset.FileAsset(release.sdistPath),
                    contentType: "application/gzip",
                    checksumAlgorithm: "SHA256",
                    metadata: { sha256: release.sha256, version: release.version },
                },
                // Releases stay in the archive when the stack moves on to another version.
                { ...child, dependsOn: [versioning] },
            );
        }

        this.bucketName = this.bucket.bucket;
        this.registerOutputs({ bucketName: this.bucketName });
    }
}
