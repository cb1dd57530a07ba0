import { describe, expect, it } from 'vitest';
import { loadPartnerDirectory, parsePartnerDirectory, partnerRecipient } from '../activities/partners';
import { composePartnerNotifications } from '../activities/notifications/partner';

describe('the partner directory', () => {
  it('the shipped config/partners.json is valid', async () => {
    const directory = await loadPartnerDirectory();
    expect(directory.partners.map((p) => p.id)).toContain('NGO-SAFE-HARBOR');
  });

  it('names the bad entry by index and id, and the field', () => {
    const bad = {
      partners: [
        { id: 'NGO-A', name: 'A', email: 'a@example.org' },
        { id: 'NGO-B', name: 'B', webhookUrl: 'ftp://example.org/hook' },
        { id: 'NGO-A', name: 'A again', email: 'a2@example.org' },
        { id: 'NGO-C', name: 'C' },
      ],
    };
    let message = '';
    try {
      parsePartnerDirectory(bad, 'partners.json');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^invalid partner directory partners\.json: /);
    expect(message).toMatch(/partners\[1\] \(NGO-B\)\.webhookUrl: /);
    expect(message).toMatch(/partners\[2\] \(NGO-A\)\.id: duplicate partner id NGO-A/);
    expect(message).toMatch(/partners\[3\] \(NGO-C\): a partner needs an email or a webhookUrl/);
  });

  it('a missing optional file is an empty directory; a path named must exist', async () => {
    await expect(loadPartnerDirectory('/nonexistent/partners.json')).rejects.toThrow(/could not be read as JSON/);
  });

  it("a partner the directory holds is told on its own channels; otherwise at the intake's email", () => {
    const directory = parsePartnerDirectory({
      partners: [{ id: 'NGO-A', name: 'A', webhookUrl: 'https://a.example.org/h', milestones: false }],
    });
    expect(partnerRecipient(directory, 'NGO-A', 'x@example.org')).toEqual({
      recipient: { role: 'partner', name: 'A', webhookUrl: 'https://a.example.org/h' },
      milestones: false,
    });
    expect(partnerRecipient(directory, 'NGO-UNKNOWN', 'x@example.org')).toEqual({
      recipient: { role: 'partner', email: 'x@example.org' },
      milestones: true,
    });
    expect(partnerRecipient(directory, null, undefined).recipient).toEqual({ role: 'partner' });
  });
});

describe("a partner's notice", () => {
  it('says the status in partner words and keeps the reference out of subject and text (they are stored)', () => {
    const [notice] = composePartnerNotifications(
      {
        causationId: 'ev-1',
        leadId: '6f1c2a52-2b0e-4d1e-9a51-6c1f3c1d2e01',
        kind: 'partner_milestone',
        status: 'lead_closed',
        at: '2026-11-02T09:00:00.000Z',
        category: 'referred_to_other_agency',
        reference: 'REF-SECRET-42',
        office: 'HSI-NEWARK',
      },
      { role: 'partner', webhookUrl: 'https://a.example.org/h' },
    );
    expect(notice?.idempotencyKey).toBe('ev-1:partner:webhook');
    expect(notice?.subject).toBe('Your referral: closed (referred to other agency)');
    expect(`${notice?.subject} ${notice?.text}`).not.toMatch(/REF-SECRET|HSI-NEWARK|6f1c2a52/);
    expect(notice?.partner).toEqual({
      reference: 'REF-SECRET-42',
      status: 'lead_closed',
      at: '2026-11-02T09:00:00.000Z',
      category: 'referred_to_other_agency',
    });
  });
});
