/** The drill's live progress line per case (a TTY redraws it; otherwise one line per stage). */

interface CaseProgress {
    instanceId: string;
    stage: string;
    startedAt: number;
    done: boolean;
}

/** Live progress: listr2 on a terminal, plain lines otherwise (stderr with --json, so stdout stays one document). */
export class Progress {
    private readonly cases = new Map<string, CaseProgress>();
    private listr?: Promise<void>;
    /**
     * @param interactive draw with listr2 (a terminal); otherwise plain lines
     * @param plain where plain lines go (stdout; stderr with --json, so that stdout stays one JSON document)
     */
    constructor(private readonly interactive: boolean, private readonly plain: NodeJS.WritableStream) {}

    log(line: string): void {
        if (!this.listr) {
            this.plain.write(`${line}\n`);
        }
    }

    /** Starts the live view of `instanceIds`; resolves once every case is done. */
    async start(instanceIds: string[]): Promise<void> {
        for (const id of instanceIds) {
            this.cases.set(id, { instanceId: id, stage: "triggered", startedAt: Date.now(), done: false });
        }
        if (!this.interactive) {
            return;
        }
        const { Listr } = await import("listr2");
        const tasks = new Listr(instanceIds.map((id) => ({
            title: id,
            task: async (_ctx: unknown, task: { title: string }) => {
                const c = this.cases.get(id) as CaseProgress;
                while (!c.done) {
                    task.title = `${id}  ${c.stage}  ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s`;
                    await new Promise((r) => setTimeout(r, 100));
                }
                task.title = `${id}  ${c.stage}  ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s`;
            },
        })), { concurrent: true, exitOnError: false, rendererOptions: { collapseSubtasks: false } });
        this.listr = tasks.run().then(() => undefined);
    }

    stage(instanceId: string, stage: string): void {
        const c = this.cases.get(instanceId);
        if (!c || c.stage === stage) {
            return;
        }
        c.stage = stage;
        if (!this.interactive) {
            this.plain.write(`  ${instanceId}  ${stage}  ${((Date.now() - c.startedAt) / 1000).toFixed(1)} s\n`);
        }
    }

    finish(instanceId: string, status: string): void {
        this.stage(instanceId, status);
        const c = this.cases.get(instanceId);
        if (c) {
            c.done = true;
        }
    }

    async stop(): Promise<void> {
        for (const c of this.cases.values()) {
            c.done = true;
        }
        await this.listr;
        this.listr = undefined;
    }
}
