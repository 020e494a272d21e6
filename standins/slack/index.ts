/** Slack stand-ins: a local Web API / response_url / Socket Mode server, a request signer and a Block Kit validator. */
export {
  SlackStandIn,
  type EnvelopeType,
  type Fault,
  type RecordedCall,
  type ResponsePost,
  type SocketAck,
  type StandInUser,
  type StoredMessage,
} from './slack-standin.js';
export {
  SlackRequestSigner,
  slackSignature,
  type BlockActionInput,
  type SignedResponse,
  type SignOptions,
  type SlashCommandInput,
} from './request-signer.js';
export { LIMITS, validateMessage } from './block-kit.js';
