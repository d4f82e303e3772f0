// Email out through SMTP (RATCHET_SMTP_URL) with nodemailer: alerts, invitations, password resets.
import nodemailer from "nodemailer";

export interface MailSettings {
  smtpUrl: string | undefined;
  emailFrom: string;
}

export class MailNotConfiguredError extends Error {
  override name = "MailNotConfiguredError";
}

export async function sendEmail(settings: MailSettings, message: { to: string; subject: string; text: string }): Promise<void> {
  if (!settings.smtpUrl) throw new MailNotConfiguredError("RATCHET_SMTP_URL is not set: email cannot be sent");
  const transport = nodemailer.createTransport(settings.smtpUrl);
  try {
    await transport.sendMail({ from: settings.emailFrom, ...message });
  } finally {
    transport.close();
  }
}
