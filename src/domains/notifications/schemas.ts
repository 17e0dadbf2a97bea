import { type TSchema, Type } from '@sinclair/typebox';
import type { NotificationRow, PreferenceRow } from './sql.ts';
import { CHANNELS, DEFAULT_CHANNELS, NOTIFICATION_TYPES, type NotificationType, channelsFor } from './types.ts';

export const ChannelSchema = Type.Union(CHANNELS.map((c) => Type.Literal(c)), { description: 'in_app (shown in GET /v1/me/notifications), email or push' });
export const NotificationTypeSchema = Type.Union(NOTIFICATION_TYPES.map((t) => Type.Literal(t)));
const ChannelList = Type.Array(ChannelSchema, { maxItems: CHANNELS.length, uniqueItems: true });

export const NotificationView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    type: NotificationTypeSchema,
    channel: ChannelSchema,
    title: Type.String(),
    body: Type.String(),
    data: Type.Record(Type.String(), Type.Unknown(), { description: 'What the notification is about (order id and number, amounts as { amount, currency })' }),
    status: Type.Union([Type.Literal('pending'), Type.Literal('sent'), Type.Literal('failed')], {
      description: 'in_app is sent when it is made; other channels are pending until their provider accepts them, failed after the last attempt',
    }),
    attempts: Type.Integer(),
    createdAt: Type.String({ format: 'date-time' }),
    sentAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    readAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);
export type NotificationView = {
  id: string;
  type: NotificationType;
  channel: (typeof CHANNELS)[number];
  title: string;
  body: string;
  data: Record<string, unknown>;
  status: NotificationRow['status'];
  attempts: number;
  createdAt: string;
  sentAt: string | null;
  readAt: string | null;
};

export function notificationView(row: NotificationRow): NotificationView {
  return {
    id: row.id,
    type: row.type,
    channel: row.channel,
    title: row.payload_json.title,
    body: row.payload_json.body,
    data: row.payload_json.data,
    status: row.status,
    attempts: row.attempts,
    createdAt: row.created_at.toISOString(),
    sentAt: row.sent_at?.toISOString() ?? null,
    readAt: row.read_at?.toISOString() ?? null,
  };
}

const typeProperties: Record<string, TSchema> = Object.fromEntries(
  NOTIFICATION_TYPES.map((t) => [t, Type.Optional(Type.Union([ChannelList, Type.Null()], { description: `channels for ${t}; [] for none, null for the default (${DEFAULT_CHANNELS[t].join(', ')})` }))]),
);

export const PreferencesBody = Type.Object(
  {
    channels: Type.Object(typeProperties, {
      additionalProperties: false,
      minProperties: 1,
      description: 'Notification type → the channels to use for it. Types left out keep their current setting.',
    }),
  },
  { additionalProperties: false },
);
export type PreferencesBody = { channels: Partial<Record<NotificationType, (typeof CHANNELS)[number][] | null>> };

const PreferenceView = Type.Object(
  {
    type: NotificationTypeSchema,
    channels: ChannelList,
    isDefault: Type.Boolean({ description: 'true while the user has not chosen for this type' }),
    defaultChannels: ChannelList,
    updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { additionalProperties: false },
);

export const PreferencesView = Type.Object(
  { items: Type.Array(PreferenceView, { description: 'Every notification type, in a fixed order' }), availableChannels: ChannelList },
  { additionalProperties: false },
);

/** Every type with the user's channels for it (their choice, or the default). */
export function preferencesView(rows: readonly PreferenceRow[]) {
  const byType = new Map(rows.map((r) => [r.notification_type, r]));
  return {
    items: NOTIFICATION_TYPES.map((type) => {
      const row = byType.get(type);
      return {
        type,
        channels: channelsFor(type, row?.channels),
        isDefault: row === undefined,
        defaultChannels: [...DEFAULT_CHANNELS[type]],
        updatedAt: row?.updated_at.toISOString() ?? null,
      };
    }),
    availableChannels: [...CHANNELS],
  };
}
