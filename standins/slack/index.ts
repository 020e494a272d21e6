/** Slack stand-ins: a local Web API / response_url / Socket Mode server, a request signer and a Block Kit validator. */
export { SlackStandIn, type SlackActivity } from './slack-standin.js';
export type { StandInUser } from './directory.js';
export type { Fault } from './faults.js';
export type { StoredMessage } from './messages.js';
export type { SharedFile } from './files.js';
export { validateModal, type OpenedView } from './views.js';
export type { ResponsePost } from './response-url.js';
export type { EnvelopeType, SocketAck } from './socket-mode.js';
export type { RecordedCall } from './web-api.js';
export {
  SlackRequestSigner,
  slackSignature,
  type BlockActionInput,
  type SignedResponse,
  type SignOptions,
  type SlashCommandInput,
  type ViewStateValues,
  type ViewSubmissionInput,
} from './request-signer.js';
export { LIMITS, validateMessage } from './block-kit.js';
