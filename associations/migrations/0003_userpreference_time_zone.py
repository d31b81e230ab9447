"""A user's time zone beside their language (SPEC §15); either may be unset (the time zone is first guessed from
the browser at sign-in)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("associations", "0002_userpreference")]

    operations = [
        migrations.AlterField(
            model_name="userpreference",
            name="language",
            field=models.CharField(
                blank=True,
                choices=[("en", "English"), ("zh-hant", "繁體中文")],
                max_length=10,
                verbose_name="language",
            ),
        ),
        migrations.AddField(
            model_name="userpreference",
            name="time_zone",
            field=models.CharField(blank=True, max_length=64, verbose_name="time zone"),
        ),
    ]
