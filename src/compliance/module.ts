import type { Core } from '../core/core.js';
import { BusinessCalendar } from '../incidents/business-calendar.js';
import type { SopEngine } from '../sops/engine.js';
import { ComplianceService } from './compliance-service.js';

/** The compliance calendar on the procedure engine, with the business calendar deciding working days. */
export function complianceModule(core: Core, engine: Pick<SopEngine, 'start' | 'get'>): ComplianceService {
  const { file } = core.config;
  const calendar = new BusinessCalendar(file.businessHours, file.timezone);
  return new ComplianceService({
    data: core.data,
    clock: core.clock,
    outbox: core.outbox,
    audit: core.audit,
    engine,
    timezone: file.timezone,
    isWorkingDay: (at) => calendar.isBusinessDay(at),
    channel: file.channels.compliance,
    owner: file.compliance.owner,
    sopReviewFrom: file.compliance.sopReviewFrom,
  });
}
