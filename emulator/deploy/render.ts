/**
 * Renders a stack's program offline under Pulumi mocks: config from `Pulumi.<stack>.yaml` (or any stack
 * file, plus overrides), every registered resource recorded with its inputs, options and the state the
 * mock returned. `npm run plan`, `npm run bench` and the resource-graph tests (through
 * test/support/pulumi.ts) use it; helpers find resources by type and name and unwrap outputs.
 */
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import * as pulumi from "@pulumi/pulumi";
import * as debuggable from "@pulumi/pulumi/runtime/debuggable";
import { PROJECT_ROOT } from "../paths";

export { PROJECT_ROOT } from "../paths";

/** Resource inputs, states and outputs as the engine passes them: untyped JSON, read by key. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface RecordedResource {
    type: string;
    name: string;
    inputs: Record<string, Json>;
    /** Provider reference `<urn>::<id>` ("" for the default provider). */
    provider: string;
    /** The state the mock returned (inputs plus computed attributes). */
    state: Record<string, Json>;
    /** Resource options the program gave (retainOnDelete, protect, dependsOn, parent...). */
    opts: pulumi.ResourceOptions;
    /** The program's own inputs (outputs and assets unresolved), e.g. a Lambda's code archive. */
    props: Record<string, Json>;
}

export interface RenderOptions {
    /** Dotted-path overrides on the stack file's config, e.g. `{"ir-forensics:analysisNetwork.subnetCount": 201}`; undefined deletes. */
    config?: Record<string, unknown>;
    /** Availability zones the region reports (default three). */
    zones?: string[];
    /** Secret config values (`project:key` → value), passed as the engine passes secrets. */
    secrets?: Record<string, string>;
    /** Outputs of stacks read by StackReference, by stack name. */
    stackOutputs?: Record<string, Record<string, unknown>>;
    /** IAM role ARN (with its path) the program runs as; default {@link defaultDeployer}. */
    callerRoleArn?: string;
    /** ARNs of the image recipes already in the account (getImageRecipes); default none, a first deploy. */
    imageRecipeArns?: string[];
    /** Render as `pulumi preview` does (`isDryRun()` true); default false, as `pulumi up`. */
    preview?: boolean;
}

export interface RenderedStack {
    resources: RecordedResource[];
    outputs: Record<string, Json>;
    invokes: Array<{ token: string; inputs: Record<string, Json> }>;
}

/** The Pulumi type token of a resource class, e.g. `aws:s3/bucket:Bucket`. */
export function typeOf(cls: { prototype: pulumi.Resource }): string {
    const token = (cls as unknown as { __pulumiType?: string }).__pulumiType;
    if (!token) {
        throw new Error(`no __pulumiType on ${String(cls)}`);
    }
    return token;
}

/** Reads `Pulumi.<file>.yaml`'s config as the engine passes it: `project:key` → string (objects as JSON). */
export function loadStackConfig(file: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    return loadConfigFile(path.join(PROJECT_ROOT, `Pulumi.${file}.yaml`), overrides);
}

/** Reads a stack settings file (any path) as {@link loadStackConfig} does. */
export function loadConfigFile(file: string, overrides: Record<string, unknown> = {}): Record<string, string> {
    const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> } | undefined;
    const config: Record<string, unknown> = JSON.parse(JSON.stringify(doc?.config ?? {}));
    for (const [dotted, value] of Object.entries(overrides)) {
        const colon = dotted.indexOf(":");
        const parts = dotted.slice(colon + 1).split(".");
        const top = `${dotted.slice(0, colon)}:${parts[0]}`;
        if (parts.length === 1) {
            if (value === undefined) {
                delete config[top];
            } else {
                config[top] = value;
            }
            continue;
        }
        let node = (config[top] ??= {}) as Record<string, unknown>;
        for (const part of parts.slice(1, -1)) {
            node = (node[part] ??= {}) as Record<string, unknown>;
        }
        const last = parts[parts.length - 1];
        if (value === undefined) {
            delete node[last];
        } else {
            node[last] = value;
        }
    }
    return Object.fromEntries(
        Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
    );
}

const DEFAULT_ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"];

/**
 * The role a stack is deployed with when a render does not say: the first deploy role the config lists
 * (without wildcards), as an operator following docs/deploy.md would, else a role of the stack's account.
 */
export function defaultDeployer(values: Record<string, string>, account: string): string {
    const listed: unknown = values["ir-forensics:evidence"] ? JSON.parse(values["ir-forensics:evidence"]).deployRoleArns : undefined;
    const first = Array.isArray(listed) ? listed.find((a): a is string => typeof a === "string" && !/[*?]/.test(a)) : undefined;
    return first ?? `arn:aws:iam::${account}:role/ir-forensics-deploy`;
}

/**
 * The identity invokes as AWS answers them for a session of `roleArn`: getCallerIdentity gives the
 * assumed-role ARN (no path), getSessionContext the role's ARN with its path. Undefined for other tokens.
 */
export function callerInvoke(token: string, inputs: Record<string, Json>, roleArn: string): Record<string, Json> | undefined {
    const [, partition, , , account] = roleArn.split(":");
    const name = roleArn.slice(roleArn.lastIndexOf("/") + 1);
    const assumed = `arn:${partition}:sts::${account}:assumed-role/${name}/pulumi`;
    switch (token) {
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { accountId: account, arn: assumed, userId: `AROAEXAMPLE:pulumi`, id: account };
        case "aws:iam/getSessionContext:getSessionContext":
            return inputs.arn === assumed
                ? { arn: assumed, issuerArn: roleArn, issuerId: "AROAEXAMPLE", issuerName: name, sessionName: "pulumi", id: assumed }
                : { arn: inputs.arn, issuerArn: inputs.arn, id: inputs.arn };
        default:
            return undefined;
    }
}

/** getImageRecipes as AWS answers it: the account's recipes (ARNs) whose name the `name` filter lists. */
export function imageRecipesAnswer(inputs: Record<string, Json>, arns: string[], region: string): Record<string, Json> {
    const filters = (inputs.filters ?? []) as Array<{ name: string; values: string[] }>;
    const names = filters.find((f) => f.name === "name")?.values;
    const matched = arns.filter((arn) => names === undefined || names.includes(arn.split("/")[1]));
    return { arns: matched, names: matched.map((arn) => arn.split("/")[1]), owner: inputs.owner ?? "Self", region, id: region };
}

/** Per-render state the mocks read. */
const current = {
    resources: [] as RecordedResource[],
    /** Options and inputs captured by a stack transformation, by `type::name`. */
    options: new Map<string, { opts: pulumi.ResourceOptions; props: Record<string, Json> }>(),
    invokes: [] as RenderedStack["invokes"],
    zones: DEFAULT_ZONES,
    account: "123456789012",
    region: "eu-west-1",
    stackOutputs: {} as Record<string, Record<string, unknown>>,
    callerRoleArn: "",
    imageRecipeArns: [] as string[],
    counter: 0,
};

function hex(n: number, width: number): string {
    return n.toString(16).padStart(width, "0").slice(-width);
}

/** Attributes AWS would compute, so that ARNs and ids flow through the program as they would for real. */
function computed(type: string, name: string, inputs: Record<string, Json>): Record<string, Json> {
    const n = ++current.counter;
    const { account, region } = current;
    const physical = inputs.name ?? `${name}-${hex(n, 7)}`;
    switch (type) {
        case "aws:s3/bucket:Bucket": {
            const bucket = inputs.bucket ?? `${name}-${hex(n, 7)}`;
            return { bucket, arn: `arn:aws:s3:::${bucket}`, id: bucket };
        }
        case "aws:kms/key:Key": {
            const keyId = `${hex(n, 8)}-1234-5678-9abc-${hex(n, 12)}`;
            return { keyId, arn: `arn:aws:kms:${region}:${account}:key/${keyId}`, id: keyId };
        }
        case "aws:iam/role:Role":
        case "aws:iam/instanceProfile:InstanceProfile": {
            const kind = type.endsWith("Role") ? "role" : "instance-profile";
            return { name: physical, arn: `arn:aws:iam::${account}:${kind}${inputs.path ?? "/"}${physical}`, uniqueId: `AROA${hex(n, 16)}` };
        }
        case "aws:cloudtrail/trail:Trail":
            return { arn: `arn:aws:cloudtrail:${region}:${account}:trail/${physical}` };
        case "aws:ec2/vpcEndpoint:VpcEndpoint":
            return { id: `vpce-${hex(n, 17)}`, prefixListId: inputs.vpcEndpointType === "Gateway" ? "pl-6da54004" : undefined };
        case "aws:ec2/vpc:Vpc":
            return { id: `vpc-${hex(n, 17)}`, arn: `arn:aws:ec2:${region}:${account}:vpc/vpc-${hex(n, 17)}` };
        case "aws:ec2/subnet:Subnet":
            return { id: `subnet-${hex(n, 17)}` };
        case "aws:ec2/securityGroup:SecurityGroup":
            return { id: `sg-${hex(n, 17)}` };
        case "aws:lambda/function:Function":
            return { name: physical, arn: `arn:aws:lambda:${region}:${account}:function:${physical}`, invokeArn: `arn:aws:apigateway:${region}:lambda:path/functions/${physical}` };
        case "aws:sfn/stateMachine:StateMachine":
            return { name: physical, arn: `arn:aws:states:${region}:${account}:stateMachine:${physical}` };
        case "aws:cloudwatch/eventBus:EventBus":
            return { name: physical, arn: `arn:aws:events:${region}:${account}:event-bus/${physical}` };
        case "aws:cloudwatch/eventRule:EventRule":
            return { name: physical, arn: `arn:aws:events:${region}:${account}:rule/${inputs.eventBusName ? `${inputs.eventBusName}/` : ""}${physical}` };
        case "aws:dynamodb/table:Table":
            return { name: physical, arn: `arn:aws:dynamodb:${region}:${account}:table/${physical}` };
        case "aws:sns/topic:Topic":
            return { name: physical, arn: `arn:aws:sns:${region}:${account}:${physical}` };
        case "aws:cloudwatch/logGroup:LogGroup":
            return { name: physical, arn: `arn:aws:logs:${region}:${account}:log-group:${physical}` };
        case "aws:securityhub/actionTarget:ActionTarget":
            return { arn: `arn:aws:securityhub:${region}:${account}:action/custom/${inputs.identifier}` };
        case "aws:imagebuilder/imageRecipe:ImageRecipe":
            return { arn: `arn:aws:imagebuilder:${region}:${account}:image-recipe/${inputs.name}/${inputs.version}` };
        default:
            return { arn: `arn:aws:${type.split(":")[1].split("/")[0]}:${region}:${account}:${physical}` };
    }
}

const mocks: pulumi.runtime.Mocks = {
    newResource(args) {
        if (args.type === "pulumi:pulumi:StackReference") {
            const stackName = String(args.inputs.name ?? args.name);
            const outputs = current.stackOutputs[stackName];
            if (!outputs) {
                throw new Error(`no outputs mocked for StackReference ${stackName}`);
            }
            current.resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider ?? "", state: { outputs }, opts: {}, props: {} });
            return { id: stackName, state: { name: stackName, outputs, secretOutputNames: [] } };
        }
        const extra = computed(args.type, args.name, args.inputs);
        const state = { ...args.inputs, ...extra };
        const captured = current.options.get(`${args.type}::${args.name}`) ?? { opts: {}, props: {} };
        current.resources.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider ?? "", state, ...captured });
        return { id: extra.id ?? `${args.name}-id`, state };
    },
    call(args) {
        current.invokes.push({ token: args.token, inputs: args.inputs });
        const identity = callerInvoke(args.token, args.inputs, current.callerRoleArn);
        if (identity) {
            return identity;
        }
        switch (args.token) {
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                return { names: current.zones, zoneIds: current.zones.map((_, i) => `euw1-az${i + 1}`), id: current.region };
            case "aws:index/getRegion:getRegion":
                return { name: current.region, region: current.region, id: current.region };
            case "aws:index/getPartition:getPartition":
                return { partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" };
            case "aws:imagebuilder/getImageRecipes:getImageRecipes":
                return imageRecipesAnswer(args.inputs, current.imageRecipeArns, current.region);
            default:
                throw new Error(`unmocked invoke ${args.token}`);
        }
    },
};

/** Resolves an output (or a plain value), rejecting when the output failed. */
export async function resolve<T>(value: pulumi.Input<T> | undefined): Promise<T> {
    const out = pulumi.output(value) as unknown as { promise(): Promise<T> };
    return out.promise();
}

/** The key that marks the engine's secret envelope (`{ [SECRET_SIG]: ..., value }`) in mocked inputs. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Unwraps the engine's secret envelope that mocks receive for secret inputs. */
export function unwrapSecret<T>(value: T | { value: T }): T {
    if (value && typeof value === "object" && SECRET_SIG in (value as object)) {
        return (value as { value: T }).value;
    }
    return value as T;
}

/**
 * Renders a stack's program under mocks with its committed `Pulumi.<file>.yaml` (or the settings file at
 * `configPath`) and returns every resource it registered and its resolved outputs. Config errors reject.
 */
export async function renderStack(stack: string, options: RenderOptions & { file?: string; configPath?: string } = {}): Promise<RenderedStack> {
    const values = options.configPath
        ? loadConfigFile(options.configPath, options.config)
        : loadStackConfig(options.file ?? stack, options.config);
    await pulumi.runtime.setMocks(mocks, "ir-forensics", stack, options.preview ?? false, "organization");
    pulumi.runtime.setAllConfig({ ...values, ...options.secrets }, Object.keys(options.secrets ?? {}));
    current.resources = [];
    current.options = new Map();
    current.invokes = [];
    current.zones = options.zones ?? DEFAULT_ZONES;
    current.region = values["aws:region"] ?? "eu-west-1";
    current.stackOutputs = options.stackOutputs ?? {};
    const accounts = values["ir-forensics:accounts"] ? JSON.parse(values["ir-forensics:accounts"]) : {};
    current.account = String((stack.startsWith("security") ? accounts.security : accounts.forensic) ?? "123456789012");
    current.callerRoleArn = options.callerRoleArn ?? defaultDeployer(values, current.account);
    current.imageRecipeArns = options.imageRecipeArns ?? [];
    const { outputs, failure } = await runProgram(current.options);
    if (failure) {
        // Resources whose inputs failed never finish registering: do not wait for them, and drop them from
        // the runtime's leak report (it would print at exit and set exit code 1 for a render meant to fail).
        // Those that do finish (a failure inside an output lets the rest of the program go on) are waited for,
        // at most 20 s, so that none of them lands in the next render's resources.
        const rpcs = (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs().catch(() => undefined);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([rpcs, new Promise((r) => { timer = setTimeout(r, 20_000); })]);
        clearTimeout(timer);
        (debuggable as unknown as { leakedPromises(): unknown }).leakedPromises();
        throw failure;
    }
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    return { resources: [...current.resources], outputs: (outputs ?? {}) as Record<string, Json>, invokes: [...current.invokes] };
}

/**
 * Runs the stacks' program (loaded after the mocks, so that it sees them) inside the stack resource, where
 * a stack transformation records each resource's options into `options`. Resolves with the program's
 * outputs, or with the error it threw as `failure`.
 */
export async function runProgram(
    options: Map<string, { opts: pulumi.ResourceOptions; props: Record<string, Json> }>,
): Promise<{ outputs: Record<string, unknown>; failure?: unknown }> {
    const { main } = await import("../../stacks/program");
    let failure: unknown;
    const outputs = await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((t) => {
            options.set(`${t.type}::${t.name}`, { opts: t.opts, props: t.props });
            return undefined;
        });
        try {
            return await resolve(main() as Record<string, unknown>);
        } catch (err) {
            failure = err;
            return {};
        }
    });
    return { outputs: (outputs ?? {}) as Record<string, unknown>, failure };
}

/** Every recorded resource of a class (or type token), optionally whose name matches. */
export function ofType(stack: RenderedStack, cls: { prototype: pulumi.Resource } | string, name?: string | RegExp): RecordedResource[] {
    const type = typeof cls === "string" ? cls : typeOf(cls);
    return stack.resources.filter((r) => r.type === type && (name === undefined || (typeof name === "string" ? r.name === name : name.test(r.name))));
}

/** The one recorded resource of a class with this name; throws naming what exists otherwise. */
export function one(stack: RenderedStack, cls: { prototype: pulumi.Resource } | string, name: string | RegExp): RecordedResource {
    const found = ofType(stack, cls, name);
    if (found.length !== 1) {
        const all = ofType(stack, cls).map((r) => r.name);
        throw new Error(`expected one ${typeof cls === "string" ? cls : typeOf(cls)} named ${name}, found ${found.length} (have: ${all.join(", ")})`);
    }
    return found[0];
}

/** A policy input (JSON string) as an object. */
export function policyOf(resource: RecordedResource, input = "policy"): { Statement: Json[] } {
    const raw = resource.inputs[input];
    return typeof raw === "string" ? JSON.parse(raw) : raw;
}

/** The statement with this Sid; throws listing the Sids present otherwise. */
export function statement(doc: { Statement: Json[] }, sid: string): Json {
    const found = doc.Statement.find((s) => s.Sid === sid);
    if (!found) {
        throw new Error(`no statement ${sid} (have: ${doc.Statement.map((s) => s.Sid).join(", ")})`);
    }
    return found;
}

/** A value or a list, as a list. */
export function asList<T>(v: T | T[] | undefined): T[] {
    return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
