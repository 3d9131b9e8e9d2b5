/**
 * The contract between the response engine and the module factory: an event on the engine bus asking
 * for a LiME module (and symbols) for a kernel a capture met without one. Detail:
 * `{arch, kernelRelease, instanceId, region, accountId}`.
 */
export const BUILD_REQUEST_SOURCE = "ir-forensics.engine";
export const BUILD_REQUEST_DETAIL_TYPE = "ModuleBuildRequested";
