import { STEP_NAMES, type SessionStatus, type StepName } from './saga.ts';
import type { SessionRecord, StepRecord } from './steps/types.ts';

interface Money {
  amount: number;
  currency: string;
}

export interface CheckoutStepView {
  step: StepName;
  status: 'not_started' | StepRecord['status'];
  attempts: number;
  attemptedAt: string | null;
  completedAt: string | null;
  compensatedAt: string | null;
}

/** What a buyer reads about a checkout session (no payment token, no internal error text). */
export interface CheckoutSessionView {
  id: string;
  status: SessionStatus;
  currentStep: StepName | null;
  cartId: string;
  orderIds: string[];
  paymentIntentId: string | null;
  totals: { subtotal: Money; discount: Money; shipping: Money; total: Money } | null;
  failure: { code: string; step: StepName | null; reason: string; details: Record<string, unknown> } | null;
  steps: CheckoutStepView[];
  startedAt: string;
  completedAt: string | null;
  updatedAt: string;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function sessionView(s: SessionRecord, steps: readonly StepRecord[]): CheckoutSessionView {
  const byName = new Map(steps.map((r) => [r.step, r]));
  const t = s.totals;
  const money = (amount: number) => ({ amount, currency: t?.currency ?? 'XXX' });
  return {
    id: s.id,
    status: s.status,
    // A failed session stopped at its failed step; compensating it walked back to reserve_stock
    // (the session row keeps that for recovery), which a buyer would read as where it failed.
    currentStep: (s.status === 'failed' || s.status === 'compensated') && s.failedStep !== null ? s.failedStep : s.currentStep,
    cartId: s.cartId,
    orderIds: s.orderIds,
    paymentIntentId: s.paymentIntentId,
    totals: t
      ? { subtotal: money(t.subtotalAmount), discount: money(t.discountAmount), shipping: money(t.shippingAmount), total: money(t.totalAmount) }
      : null,
    failure: s.failureReason !== null ? { code: s.failureCode ?? 'INTERNAL', step: s.failedStep, reason: s.failureReason, details: s.failureDetails ?? {} } : null,
    steps: STEP_NAMES.map((step) => {
      const r = byName.get(step);
      return {
        step,
        status: r?.status ?? 'not_started',
        attempts: r?.attempts ?? 0,
        attemptedAt: iso(r?.attemptedAt ?? null),
        completedAt: iso(r?.completedAt ?? null),
        compensatedAt: iso(r?.compensatedAt ?? null),
      };
    }),
    startedAt: s.startedAt.toISOString(),
    completedAt: iso(s.completedAt),
    updatedAt: s.updatedAt.toISOString(),
  };
}
