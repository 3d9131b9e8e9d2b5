/**
 * aws-local-stepfunctions (the local Step Functions interpreter) calls Promise.withResolvers, which
 * Node 22 has and Node 20 lacks: without it every Task state fails at once and is caught as a task
 * failure. Importing this module defines it where missing.
 */
if (typeof (Promise as unknown as { withResolvers?: unknown }).withResolvers !== "function") {
    Object.defineProperty(Promise, "withResolvers", {
        configurable: true,
        writable: true,
        value: function withResolvers<T>() {
            let resolve!: (value: T | PromiseLike<T>) => void;
            let reject!: (reason?: unknown) => void;
            const promise = new Promise<T>((res, rej) => {
                resolve = res;
                reject = rej;
            });
            return { promise, resolve, reject };
        },
    });
}

export {};
