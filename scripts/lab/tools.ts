/**
 * The real tools of the lab, each from the registry that serves it, pinned, cached under `.cache/lab/`:
 * the guest kernel and LiME's source from Debian's packages, AVML from crates.io, Volatility 3 from PyPI
 * (the workstation's pin and hash), and the module factory's own builder script for the LiME module.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { AwsCredentialIdentity } from "@smithy/types";
import { recordBuild } from "../../functions/factory/moduleBuild";
import { ModuleIndex, avmlKey, parseIndex, renderIndex, withAvml } from "../../functions/factory/moduleIndex";
import { DEFAULTS } from "../../stacks/config";
import { PROJECT_ROOT } from "../../emulator/paths";
import { has, run } from "./commands";

export const AVML_VERSION = "0.20.0";
const SIFT_DOCUMENT = path.join(PROJECT_ROOT, "imagebuilder", "sift-workstation.yml");

/** Volatility 3 as the workstation pins it (version and sdist SHA-256 from the SIFT component). */
export function volatilityPin(): { version: string; sha256: string } {
    const doc = yaml.load(fs.readFileSync(SIFT_DOCUMENT, "utf8")) as { constants?: Record<string, { value: string }>[] };
    const constants = Object.assign({}, ...(doc.constants ?? [])) as Record<string, { value: string }>;
    return { version: constants.Volatility3Version.value, sha256: constants.Volatility3Sha256.value };
}

/** Debian's current kernel ABI (superseded ones are dropped from the archive, so it is resolved each run). */
export async function currentKernel(): Promise<string> {
    const out = (await run("apt-cache", ["depends", "linux-image-amd64"])).stdout;
    const match = /Depends: linux-image-([0-9][^\s]*-amd64)\b/.exec(out);
    if (!match) {
        throw new Error("apt-cache depends linux-image-amd64 names no kernel (run apt-get update)");
    }
    return match[1];
}

export interface Prerequisite {
    what: string;
    ok: boolean;
    /** The one command that installs it. */
    install: string;
    /** Debian packages that install it (for --install). */
    packages?: string[];
}

/** What the lab needs on this machine, and how to install what is missing. */
export async function prerequisites(kernel: string): Promise<Prerequisite[]> {
    const deb = (what: string, ok: boolean, packages: string[]): Prerequisite =>
        ({ what, ok, packages, install: `apt-get install -y --no-install-recommends ${packages.join(" ")}` });
    const file = (p: string) => fs.existsSync(p);
    return [
        deb("qemu-system-x86_64", has("qemu-system-x86_64"), ["qemu-system-x86"]),
        deb("debootstrap", has("debootstrap"), ["debootstrap"]),
        deb("socat (QEMU's guestfwd relay)", has("socat"), ["socat"]),
        deb("mkfs.ext4", has("mkfs.ext4"), ["e2fsprogs"]),
        deb("make, gcc, modinfo, strip, xz, openssl, curl (the module builder)", ["make", "gcc", "modinfo", "strip", "xz", "openssl", "curl"].every(has),
            ["make", "gcc", "kmod", "binutils", "xz-utils", "openssl", "curl"]),
        deb(`the guest kernel ${kernel}`, file(`/boot/vmlinuz-${kernel}`) && file(`/boot/initrd.img-${kernel}`), [`linux-image-${kernel}`]),
        deb(`its headers (LiME is built against them)`, file(`/usr/src/linux-headers-${kernel}/Makefile`), [`linux-headers-${kernel}`]),
        { what: "cargo (builds AVML from crates.io)", ok: has("cargo"), install: "curl https://sh.rustup.rs -sSf | sh -s -- -y" },
        deb("python3 with venv (Volatility 3 from PyPI)", await run("python3", ["-c", "import venv, ensurepip"]).then(() => true, () => false), ["python3-venv"]),
    ];
}

/**
 * dwarf2json, the only generator of Linux symbol tables Volatility 3 reads. It is published only on GitHub
 * (github.com/volatilityfoundation/dwarf2json); the Go module proxy serves no version of it here.
 */
export async function dwarf2json(cacheDir: string): Promise<{ bin?: string; reason?: string }> {
    const explicit = process.env.IRF_LAB_DWARF2JSON;
    if (explicit) {
        return fs.existsSync(explicit) ? { bin: explicit } : { reason: `IRF_LAB_DWARF2JSON=${explicit} does not exist` };
    }
    const { commit } = DEFAULTS.moduleFactory.tools.dwarf2json;
    const bin = path.join(cacheDir, `dwarf2json-${commit.slice(0, 12)}`, "dwarf2json");
    if (fs.existsSync(bin)) {
        return { bin };
    }
    const gobin = path.dirname(bin);
    try {
        await run("go", ["install", `github.com/volatilityfoundation/dwarf2json@${commit}`], { env: { ...process.env, GOBIN: gobin, GOFLAGS: "-modcacherw" } });
        return { bin };
    } catch (err) {
        return {
            reason: `dwarf2json could not be installed (go install github.com/volatilityfoundation/dwarf2json@${commit}: `
                + `${(err as Error).message.split(": ").slice(-1)[0].slice(0, 160)}); set IRF_LAB_DWARF2JSON to a dwarf2json binary`,
        };
    }
}

/** AVML 0.20.0 from crates.io: `acquire` is all the host script uses, so no upload/stream features. */
export async function avml(cacheDir: string): Promise<{ bin: string; sha256: string; builtMs: number }> {
    const root = path.join(cacheDir, `avml-${AVML_VERSION}`);
    const bin = path.join(root, "bin", "avml");
    let builtMs = 0;
    if (!fs.existsSync(bin)) {
        builtMs = (await run("cargo", ["install", "avml", "--version", AVML_VERSION, "--locked", "--no-default-features", "--root", root])).ms;
    }
    return { bin, sha256: createHash("sha256").update(fs.readFileSync(bin)).digest("hex"), builtMs };
}

/** Volatility 3 in its own virtual environment, from the sdist whose SHA-256 the workstation pins. */
export async function volatility(cacheDir: string): Promise<{ vol: string; version: string }> {
    const pin = volatilityPin();
    const venv = path.join(cacheDir, `volatility3-${pin.version}`);
    const vol = path.join(venv, "bin", "vol");
    if (!fs.existsSync(vol)) {
        const work = fs.mkdtempSync(path.join(cacheDir, "vol-dl-"));
        try {
            await run("python3", ["-m", "venv", venv]);
            await run(path.join(venv, "bin", "pip"), ["download", "-q", "--no-deps", "--no-binary", ":all:", "--dest", work, `volatility3==${pin.version}`]);
            const sdist = path.join(work, `volatility3-${pin.version}.tar.gz`);
            const got = createHash("sha256").update(fs.readFileSync(sdist)).digest("hex");
            if (got !== pin.sha256) {
                throw new Error(`volatility3 ${pin.version} sdist has SHA-256 ${got}, the workstation pins ${pin.sha256}`);
            }
            await run(path.join(venv, "bin", "pip"), ["install", "-q", sdist]);
        } catch (err) {
            fs.rmSync(venv, { recursive: true, force: true });
            throw err;
        } finally {
            fs.rmSync(work, { recursive: true, force: true });
        }
    }
    return { vol, version: pin.version };
}

/** LiME's source as Debian ships it (lime-forensics-dkms, downloaded and unpacked, never installed). */
export async function limeSource(cacheDir: string): Promise<{ dir: string; version: string }> {
    const dir = path.join(cacheDir, "lime-forensics-dkms");
    if (!fs.existsSync(dir)) {
        const work = fs.mkdtempSync(path.join(cacheDir, "lime-dl-"));
        try {
            await run("apt-get", ["download", "lime-forensics-dkms"], { cwd: work });
            const deb = fs.readdirSync(work).find((f) => f.endsWith(".deb"));
            await run("dpkg-deb", ["-x", path.join(work, deb ?? "none"), path.join(work, "x")]);
            const src = path.join(work, "x", "usr", "src");
            const unpacked = fs.readdirSync(src).find((d) => d.startsWith("lime-forensics-"));
            fs.renameSync(path.join(src, unpacked ?? "none"), dir);
        } finally {
            fs.rmSync(work, { recursive: true, force: true });
        }
    }
    const version = /PACKAGE_VERSION="?([^"\n]+)/.exec(fs.readFileSync(path.join(dir, "dkms.conf"), "utf8"))?.[1] ?? "unknown";
    return { dir, version };
}

const BUILDER_SHIMS = path.join(__dirname, "builder-shims");

/**
 * The module factory's builder (imagebuilder/build-modules.sh) run on this machine for the guest's kernel,
 * uploading to the emulated module store with the builder role's credentials, then its report merged into
 * index.json by the factory's indexer; AVML staged beside it as the indexer stages it.
 */
export async function buildModuleStore(args: {
    cacheDir: string; kernel: string; endpoint: string; bucket: string; region: string;
    builderCredentials: AwsCredentialIdentity; builder: S3Client; indexer: S3Client;
    limeDir: string; limeVersion: string; dwarf2jsonBin?: string; avml: { bin: string; sha256: string };
}): Promise<{ ms: number; log: string; index: ModuleIndex }> {
    const started = Date.now();
    const root = path.join(args.cacheDir, "builder-root");
    fs.mkdirSync(path.join(root, "etc"), { recursive: true });
    fs.copyFileSync("/etc/os-release", path.join(root, "etc", "os-release"));
    const build = path.join(root, "lib", "modules", args.kernel, "build");
    fs.mkdirSync(path.dirname(build), { recursive: true });
    if (!fs.existsSync(build)) {
        fs.symlinkSync(`/usr/src/linux-headers-${args.kernel}`, build);
    }
    const work = fs.mkdtempSync(path.join(args.cacheDir, "build-"));
    const buildId = `lab-${Date.now()}`;
    const tools = DEFAULTS.moduleFactory.tools;
    const log = path.join(work, "builder.log");
    const env: NodeJS.ProcessEnv = {
        PATH: `${BUILDER_SHIMS}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: "C.UTF-8",
        LAB_KERNEL_RELEASE: args.kernel, LAB_BUILDER_LOG: log,
        IRF_BUCKET: args.bucket, IRF_BUCKET_REGION: args.region, IRF_BUILD_ID: buildId,
        IRF_SOURCE_AMI: "ami-0123456789abcdef0", IRF_SOURCE_REGION: args.region,
        IRF_LIME_REPO: `debian:lime-forensics-dkms`, IRF_LIME_COMMIT: tools.lime.commit, IRF_LIME_VERSION: args.limeVersion,
        IRF_LIME_SOURCE_DIR: args.limeDir,
        IRF_DWARF2JSON_REPO: tools.dwarf2json.repository, IRF_DWARF2JSON_COMMIT: tools.dwarf2json.commit, IRF_DWARF2JSON_VERSION: tools.dwarf2json.version,
        IRF_DWARF2JSON_BIN: args.dwarf2jsonBin ?? "none",
        IRF_MAX_KERNELS: "0", IRF_ROOT: root, IRF_WORK_DIR: work, IRF_S3_ENDPOINT: args.endpoint,
        AWS_ACCESS_KEY_ID: args.builderCredentials.accessKeyId, AWS_SECRET_ACCESS_KEY: args.builderCredentials.secretAccessKey,
        AWS_SESSION_TOKEN: args.builderCredentials.sessionToken ?? "",
    };
    try {
        await run("bash", [path.join(PROJECT_ROOT, "imagebuilder", "build-modules.sh")], { env });
    } catch (err) {
        throw new Error(`module builder: ${(err as Error).message}`, { cause: err });
    }
    await recordBuild(args.indexer, args.bucket, `builds/${buildId}/report.json`);
    const current = parseIndex(await (await args.indexer.send(new GetObjectCommand({ Bucket: args.bucket, Key: "index.json" }))).Body!.transformToString());
    const index = await stageAvml(args.indexer, args.bucket, args.avml, current);
    const text = fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "";
    fs.rmSync(work, { recursive: true, force: true });
    return { ms: Date.now() - started, log: text, index };
}

/** AVML in the store and in `index` (as the factory's indexer stages it), written back as index.json. */
export async function stageAvml(indexer: S3Client, bucket: string, tool: { bin: string; sha256: string }, index: ModuleIndex): Promise<ModuleIndex> {
    await indexer.send(new PutObjectCommand({ Bucket: bucket, Key: avmlKey("x86_64"), Body: fs.readFileSync(tool.bin) }));
    const at = new Date().toISOString();
    const next = withAvml(index, [{ arch: "x86_64", path: avmlKey("x86_64"), sha256: tool.sha256, version: AVML_VERSION, stagedAt: at } as never], at);
    await indexer.send(new PutObjectCommand({ Bucket: bucket, Key: "index.json", Body: Buffer.from(renderIndex(next)) }));
    return next;
}

/** The AVML stand-in of the tests (emulator/host/host-shims/store/avml) against the real 0.20.0 binary: same exit code and first line. */
export async function avmlStandInConformance(realBin: string, standIn: string): Promise<string[]> {
    const cases = [["/tmp/irf-old-command-line.lime"], ["--version"], ["acquire", "--source", "/bogus", "/tmp/x"], ["acquire"], ["acquire", "--compresss", "/tmp/x"]];
    const outcome = async (bin: string, args: string[]) => {
        const r = await run(bin, args).then((ok) => ({ code: 0, text: ok.stdout }), (err: { code: number; stderr: string }) => ({ code: err.code, text: err.stderr }));
        return `exit ${r.code}: ${r.text.trim().split("\n")[0]}`;
    };
    const differences: string[] = [];
    for (const args of cases) {
        const [real, stand] = [await outcome(realBin, args), await outcome(standIn, args)];
        if (real !== stand) {
            differences.push(`avml ${args.join(" ")}: real "${real}", stand-in "${stand}"`);
        }
    }
    return differences;
}
