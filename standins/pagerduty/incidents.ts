export type StandInIncidentStatus = 'triggered' | 'acknowledged' | 'resolved';

export interface StandInIncident {
  id: string;
  number: number;
  status: StandInIncidentStatus;
  title: string;
  /** Priority name (P1…P5) or null. */
  priority: string | null;
  urgency: 'high' | 'low';
  incident_key: string | null;
  /** The From address of the last status change made over REST. */
  lastChangedBy?: string;
  /** Who it is assigned to (PagerDuty user id and name). */
  assignees: Array<{ id: string; summary: string }>;
  /** Notes added over REST, oldest first. */
  notes: Array<{ id: string; content: string; from: string }>;
}

export interface NewStandInIncident {
  id: string;
  /** Default: one more than the highest number so far. */
  number?: number;
  status?: StandInIncidentStatus;
  title: string;
  priority?: string | null;
  urgency?: 'high' | 'low';
  incident_key?: string | null;
  assignees?: Array<{ id: string; summary: string }>;
}

/** The account's incidents, shared by the REST API (which reads and changes them) and the Events API (which opens them). */
export class IncidentStore {
  private readonly incidents = new Map<string, StandInIncident>();
  private next = 1;

  /** The number the next incident gets unless it brings its own. */
  get nextNumber(): number {
    return this.next;
  }

  /** Stores the incident and returns a copy of it. */
  add(incident: NewStandInIncident): StandInIncident {
    const stored: StandInIncident = {
      id: incident.id,
      number: incident.number ?? this.next,
      status: incident.status ?? 'triggered',
      title: incident.title,
      priority: incident.priority ?? null,
      urgency: incident.urgency ?? 'high',
      incident_key: incident.incident_key ?? null,
      assignees: incident.assignees ?? [],
      notes: [],
    };
    this.next = Math.max(this.next, stored.number + 1);
    this.incidents.set(stored.id, stored);
    return { ...stored, assignees: [...stored.assignees], notes: [...stored.notes] };
  }

  /** The stored incident itself, for the APIs to change; callers outside hand out copies. */
  find(id: string): StandInIncident | undefined {
    return this.incidents.get(id);
  }

  all(): StandInIncident[] {
    return [...this.incidents.values()];
  }

  /** The unresolved incident an alert with this dedup key would group into. */
  openWithKey(key: string): StandInIncident | undefined {
    return this.all().find((i) => i.incident_key === key && i.status !== 'resolved');
  }

  clear(): void {
    this.incidents.clear();
    this.next = 1;
  }
}
