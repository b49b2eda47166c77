from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_periodic_claim'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditentry',
            name='message',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='auditentry',
            name='message_plural',
            field=models.CharField(blank=True, default='', max_length=255),
        ),
        migrations.AddField(
            model_name='auditentry',
            name='params',
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
