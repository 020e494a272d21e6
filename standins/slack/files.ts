import type { FaultQueue } from '../shared/faults.js';
import type { Reply } from '../shared/reply.js';
import { faultReply, type Fault } from './faults.js';
import { nonEmpty, type ApiResult, type Params } from './params.js';

/** A file shared with files.completeUploadExternal, as a test reads it back. */
export interface SharedFile {
  id: string;
  filename: string;
  title: string | undefined;
  altText: string | undefined;
  /** Where it was shared; undefined when completed without a channel (a private file). */
  channel: string | undefined;
  threadTs: string | undefined;
  initialComment: string | undefined;
  bytes: Buffer;
  /** Content type of the upload request: raw bytes, or multipart/form-data as the SDK's filesUploadV2 sends. */
  uploadedAs: 'raw' | 'multipart';
}

interface PendingUpload {
  id: string;
  filename: string;
  length: number;
  altText: string | undefined;
  bytes?: Buffer;
  uploadedAs?: SharedFile['uploadedAs'];
  completed: boolean;
}

/**
 * Slack's external upload flow: `files.getUploadURLExternal` hands out a file id and an upload URL (here
 * `/upload/<file id>` on the stand-in's own server), the bytes are POSTed there, and
 * `files.completeUploadExternal` shares them. Like Slack, a file can be completed once: completing it again,
 * or completing one whose bytes never arrived, answers `file_not_found`. Faults for the upload URL target
 * `upload`.
 */
export class FileStore {
  private readonly pending = new Map<string, PendingUpload>();
  private shared: SharedFile[] = [];
  private counter = 0;

  constructor(
    private readonly faults: FaultQueue<string, Fault>,
    private readonly uploadUrl: (fileId: string) => string,
  ) {}

  list(): SharedFile[] {
    return this.shared.map((f) => ({ ...f, bytes: Buffer.from(f.bytes) }));
  }

  /** Forgets uploads and shared files; ids keep counting up, so none is reused. */
  clear(): void {
    this.pending.clear();
    this.shared = [];
  }

  getUploadUrl(p: Params): ApiResult {
    const filename = nonEmpty(p.filename);
    const length = Number(p.length);
    if (!filename || p.length === undefined || !Number.isSafeInteger(length) || length < 1) return { ok: false, error: 'invalid_arguments' };
    this.counter += 1;
    const id = `F0STANDIN${String(this.counter).padStart(4, '0')}`;
    this.pending.set(id, { id, filename, length, altText: nonEmpty(p.alt_text), completed: false });
    return { ok: true, upload_url: this.uploadUrl(id), file_id: id };
  }

  /** The POST to an upload URL: the raw bytes, or a multipart form whose first file part holds them. */
  async upload(fileId: string, contentType: string, body: Buffer): Promise<Reply> {
    const fault = this.faults.take('upload');
    if (fault) return faultReply(fault);
    const upload = this.pending.get(fileId);
    if (!upload || upload.completed) return { status: 404, body: 'no such upload' };
    let bytes = body;
    let uploadedAs: SharedFile['uploadedAs'] = 'raw';
    if (contentType.startsWith('multipart/form-data')) {
      const part = await firstFilePart(contentType, body);
      if (!part) return { status: 400, body: 'multipart body without a file part' };
      bytes = part;
      uploadedAs = 'multipart';
    }
    // Slack checks what arrives against the length announced for the URL; a mismatch is a client bug.
    if (bytes.length !== upload.length) return { status: 400, body: `expected ${upload.length} bytes, got ${bytes.length}` };
    upload.bytes = bytes;
    upload.uploadedAs = uploadedAs;
    return { status: 200, body: `OK - ${bytes.length}` };
  }

  complete(p: Params): ApiResult {
    const files = parseFiles(p.files);
    if (!files) return { ok: false, error: 'invalid_arguments' };
    const channel = nonEmpty(p.channel_id);
    const threadTs = nonEmpty(p.thread_ts);
    if (threadTs && !channel) return { ok: false, error: 'invalid_arguments' };
    const uploads = files.map((f) => this.pending.get(f.id));
    if (uploads.some((u) => !u || u.completed || !u.bytes)) return { ok: false, error: 'file_not_found' };
    const answer = files.map((f, i) => {
      const upload = uploads[i]!;
      upload.completed = true;
      this.shared.push({
        id: upload.id,
        filename: upload.filename,
        title: f.title,
        altText: upload.altText,
        channel,
        threadTs,
        initialComment: nonEmpty(p.initial_comment),
        bytes: upload.bytes!,
        uploadedAs: upload.uploadedAs ?? 'raw',
      });
      return { id: upload.id, name: upload.filename, title: f.title ?? upload.filename, size: upload.bytes!.length };
    });
    return { ok: true, files: answer };
  }
}

/** `files` arrives as a JSON string in a form body or as an array in a JSON body: [{id, title?}, …]. */
function parseFiles(v: unknown): Array<{ id: string; title: string | undefined }> | undefined {
  let value = v;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  }
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const files: Array<{ id: string; title: string | undefined }> = [];
  for (const entry of value as unknown[]) {
    const id = nonEmpty((entry as { id?: unknown } | null)?.id);
    if (!id) return undefined;
    files.push({ id, title: nonEmpty((entry as { title?: unknown }).title) });
  }
  return files;
}

/** The first file part of a multipart/form-data body, parsed by the platform's own form-data reader. */
async function firstFilePart(contentType: string, body: Buffer): Promise<Buffer | undefined> {
  try {
    const form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
    for (const value of form.values()) {
      if (typeof value !== 'string') return Buffer.from(await value.arrayBuffer());
    }
  } catch {
    return undefined;
  }
  return undefined;
}
