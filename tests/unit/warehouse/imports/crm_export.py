"""A CRM-like export as a team would hand it over: upper-case headers, Yes/No flags, naive local
timestamps, absolute banner paths and a column of its own, plus the mapping file that imports it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# Wall-clock time in London; 2026-03-29 01:30 does not exist there (clocks jump from 01:00 to 02:00).
ZONE = "Europe/London"
DST_GAP = "2026-03-29 01:30:00"
LAST_SEND = pd.Timestamp("2026-04-20 18:00")

MAPPING = """
name: crm
timezone: Europe/London
settings:
  channels: [email, sms]
sources:
  customers: {{path: customers.csv}}
  messages: {{path: {messages_path}}}
  sends: {{path: sends.csv}}
  events: {{path: events.parquet}}
tables:
  customers:
    source: customers
    keep_other_columns: true
    columns:
      customer_id: CUSTOMER_ID
      signup_date: SIGNUP_DATE
      birth_year: BIRTH_YEAR
      gender: GENDER
      region: REGION
      loyalty_tier: {{column: TIER, values: {{Bronze: none, Silver: silver, Gold: gold}}, ignore_case: true}}
      consent_email: {{column: EMAIL_OPT_IN, values: {{"Yes": true, "No": false}}}}
      consent_sms: {{column: SMS_OPT_IN, values: {{"Yes": true, "No": false}}}}
      updated_at: UPDATED
  messages:
    source: messages
    columns:
      message_id: MESSAGE_ID
      campaign_id: {{value: spring_2026}}
      title: TITLE
      body: BODY
      offer_type: {{column: OFFER, values: {{"PCT": discount, "SHIP": free_shipping}}}}
      discount_pct: DISCOUNT
      image_uri: BANNER
      active_from: START
      active_to: END
  sends:
    source: sends
    columns:
      send_id: SEND_ID
      customer_id: CUSTOMER_ID
      message_id: MESSAGE_ID
      channel: {{column: CHANNEL, values: {{EMAIL: email, SMS: sms, NONE: none}}}}
      sent_at: SENT
      propensity: PROPENSITY
      opened: {{column: OPENED, values: {{"Yes": true, "No": false}}}}
      clicked: {{column: CLICKED, values: {{"Yes": true, "No": false}}}}
      converted: {{column: CONVERTED, values: {{"Yes": true, "No": false}}}}
      revenue: REVENUE
  events:
    source: events
    columns:
      event_id: {{expr: "'e' || CAST(_row AS VARCHAR)"}}
      customer_id: CUSTOMER_ID
      event_ts: TS
      event_type: {{column: TYPE, values: {{VIEW: view, BUY: purchase}}}}
      amount: AMOUNT
      device: {{value: web}}
"""


def write_crm_export(folder: Path, customers: int = 300, sends: int = 3000, seed: int = 3) -> Path:
    """Write the export (CSV + Parquet + PNG banners) and its mapping into ``folder``; return the mapping path.

    Planted faults, each rejected by the import with its reason: a repeated customer id, a send whose
    CONVERTED is 'Maybe', a send at a London time that does not exist, and a send to an unknown message.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"C{i:04d}" for i in range(customers)]
    loyal = rng.random(customers) < 0.4  # the CRM's own column, and the signal the models should find
    pd.DataFrame(
        {
            "CUSTOMER_ID": ids + [ids[0]],
            "SIGNUP_DATE": ["2024-05-01"] * customers + ["2024-05-01"],
            "BIRTH_YEAR": rng.integers(1950, 2004, customers + 1),
            "GENDER": rng.choice(["f", "m"], customers + 1),
            "REGION": rng.choice(["uk", "de"], customers + 1),
            "TIER": rng.choice(["BRONZE", "silver", "Gold"], customers + 1),
            "EMAIL_OPT_IN": rng.choice(["Yes", "No"], customers + 1, p=[0.9, 0.1]),
            "SMS_OPT_IN": rng.choice(["Yes", "No"], customers + 1),
            "UPDATED": ["2026-03-01 10:00:00"] * (customers + 1),
            "LOYALTY_SCORE": np.r_[np.where(loyal, 80, 20), 50],
        }
    ).to_csv(folder / "customers.csv", index=False)

    banners = folder / "art"
    banners.mkdir(exist_ok=True)
    messages = []
    for i, offer in enumerate(["PCT", "SHIP", "PCT", "SHIP"]):
        path = banners / f"banner_{i}.png"
        Image.new("RGB", (32, 32), (40 * i, 90, 200 - 40 * i)).save(path)
        messages.append(
            {
                "MESSAGE_ID": f"M{i}",
                "TITLE": f"Spring offer {i}",
                "BODY": f"Spring offer number {i} for our customers",
                "OFFER": offer,
                "DISCOUNT": 10 * (i + 1) if offer == "PCT" else None,
                "BANNER": str(path.resolve()),  # absolute, as a CRM export names them
                "START": "2026-02-01",
                "END": "2026-12-31",
            }
        )
    # Messages live in their own folder, so the mapping names it with an absolute path.
    (folder / "catalogue").mkdir(exist_ok=True)
    pd.DataFrame(messages).to_csv(folder / "catalogue" / "messages.csv", index=False)

    who = rng.integers(0, customers, sends)
    arm = rng.choice(["M0", "M1", "M2", "M3", ""], sends)
    channel = np.where(arm == "", "NONE", rng.choice(["EMAIL", "SMS"], sends))
    offset = pd.to_timedelta(rng.integers(0, 50 * 24, sends), unit="h")
    sent = pd.Series((LAST_SEND - offset).strftime("%Y-%m-%d %H:%M:%S"))
    sent = sent.str.replace("2026-03-29 01:", "2026-03-29 03:", regex=False)  # only row 7 sits in the gap
    p = 0.08 + 0.15 * loyal[who] * (arm != "")
    frame = pd.DataFrame(
        {
            "SEND_ID": [f"S{i:05d}" for i in range(sends)],
            "CUSTOMER_ID": [ids[w] for w in who],
            "MESSAGE_ID": arm,
            "CHANNEL": channel,
            "SENT": sent,
            "PROPENSITY": 0.2,
            "OPENED": np.where(rng.random(sends) < 0.3, "Yes", "No"),
            "CLICKED": np.where(rng.random(sends) < 0.1, "Yes", "No"),
            "CONVERTED": np.where(rng.random(sends) < p, "Yes", "No"),
            "REVENUE": 0.0,
        }
    )
    frame.loc[5, "CONVERTED"] = "Maybe"
    frame.loc[6, "SENT"] = DST_GAP
    frame.loc[7, "MESSAGE_ID"] = "M9"
    frame.to_csv(folder / "sends.csv", index=False)

    events = pd.DataFrame(
        {
            "CUSTOMER_ID": [ids[w] for w in rng.integers(0, customers, 2000)],
            "TS": pd.Timestamp("2026-04-21 12:00") - pd.to_timedelta(rng.integers(0, 60 * 24, 2000), unit="h"),
            "TYPE": rng.choice(["VIEW", "BUY"], 2000),
            "AMOUNT": 10.0,
        }
    )
    events.to_parquet(folder / "events.parquet", index=False)  # naive datetime64 column, as exports carry

    mapping = folder / "crm.yaml"
    mapping.write_text(MAPPING.format(messages_path=(folder / "catalogue" / "messages.csv").resolve()))
    return mapping
