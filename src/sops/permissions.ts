/** The permissions of a procedure: who may start a run, who may approve (and override, retry, skip, abort). */
export function sopPermissions(definitionId: string): { start: string; approve: string } {
  return { start: `sop.${definitionId}.start`, approve: `sop.${definitionId}.approve` };
}
