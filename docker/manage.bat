@echo off
rem Drive the container stack of docker-compose.yml on Windows (Docker Desktop).
rem
rem   docker\manage.bat build                 build the cloud and agent images
rem   docker\manage.bat start                 collect, train, register and serve (SQLite store)
rem   docker\manage.bat start-prod            the same with PostgreSQL; needs POSTGRES_PASSWORD
rem   docker\manage.bat stop                  stop and remove the containers, keep all data
rem   docker\manage.bat clean                 also remove named volumes and the built images
rem   docker\manage.bat logs [SERVICE]        last lines of the logs
rem   docker\manage.bat status                state and health of each service
rem   docker\manage.bat backup                archive the MLflow store and artifacts in backups\
rem   docker\manage.bat restore ARCHIVE       put a backup back and restart the MLflow server
rem
rem Settings are the environment variables listed at the top of docker-compose.yml.
rem Backups need tar.exe, which Windows 10 1803 and newer include.
setlocal EnableExtensions EnableDelayedExpansion

set "ROOT=%~dp0.."
pushd "%ROOT%" || exit /b 1
if "%CPS_DATA_ROOT%"=="" set "CPS_DATA_ROOT=%CD%"
if "%CPS_BACKUP_DIR%"=="" set "CPS_BACKUP_DIR=%CPS_DATA_ROOT%\backups"
if "%WAIT_SECONDS%"=="" set "WAIT_SECONDS=900"
set "COMPOSE=docker compose -f docker-compose.yml"
set "COMPOSE_ALL=docker compose -f docker-compose.yml --profile production"
set "COMPOSE_PROD=docker compose -f docker-compose.yml -f docker\compose.production.yml --profile production"

set "VERB=%~1"
if "%VERB%"=="build" goto build
if "%VERB%"=="start" goto start
if "%VERB%"=="start-prod" goto start_prod
if "%VERB%"=="stop" goto stop
if "%VERB%"=="clean" goto clean
if "%VERB%"=="logs" goto logs
if "%VERB%"=="status" goto status
if "%VERB%"=="backup" goto backup
if "%VERB%"=="restore" goto restore
goto usage

:build
%COMPOSE% build
goto done

:prepare
if not exist "%CPS_DATA_ROOT%\mlruns" mkdir "%CPS_DATA_ROOT%\mlruns"
if not exist "%CPS_DATA_ROOT%\data" mkdir "%CPS_DATA_ROOT%\data"
if not exist "%CPS_DATA_ROOT%\logs" mkdir "%CPS_DATA_ROOT%\logs"
exit /b 0

:start
call :prepare
echo manage: starting; the first run trains a model, which takes a few minutes
%COMPOSE% up --detach --wait --wait-timeout %WAIT_SECONDS%
if errorlevel 1 goto failed
echo manage: dashboard http://127.0.0.1:%MLFLOW_PORT%, forecasts http://127.0.0.1:%API_PORT%/predict/live
goto done

:start_prod
if "%POSTGRES_PASSWORD%"=="" (
    echo manage: ERROR: POSTGRES_PASSWORD is not set; set a strong password and run start-prod again 1>&2
    goto failed
)
call :prepare
%COMPOSE_PROD% up --detach --wait --wait-timeout %WAIT_SECONDS%
goto done

:stop
%COMPOSE_ALL% down --remove-orphans
goto done

:clean
%COMPOSE_ALL% down --remove-orphans --volumes --rmi local
echo manage: containers, named volumes and built images removed; mlruns, data and logs are kept
goto done

:logs
%COMPOSE_ALL% logs --no-color --timestamps --tail 200 %2
goto done

:status
%COMPOSE_ALL% ps --all --format "table {{.Service}}\t{{.State}}\t{{.Health}}\t{{.ExitCode}}"
goto done

:backup
for /f %%t in ('powershell -NoProfile -Command "(Get-Date).ToUniversalTime().ToString('yyyyMMddTHHmmssZ')"') do set "STAMP=%%t"
set "STAGING=%TEMP%\cps-backup-%STAMP%"
if exist "%STAGING%" rmdir /s /q "%STAGING%"
mkdir "%STAGING%" || goto failed
if not exist "%CPS_BACKUP_DIR%" mkdir "%CPS_BACKUP_DIR%"
set "PG_RUNNING="
for /f %%i in ('%COMPOSE_ALL% ps --status running --quiet postgres 2^>nul') do set "PG_RUNNING=1"
if defined PG_RUNNING (
    echo manage: dumping PostgreSQL
    %COMPOSE_ALL% exec -T postgres pg_dump --username=mlflow --dbname=mlflow --format=custom > "%STAGING%\mlflow.pgdump" || goto failed
    echo store=postgres> "%STAGING%\BACKUP_INFO"
) else (
    if not exist "%CPS_DATA_ROOT%\mlruns\mlflow.db" (
        echo manage: ERROR: no MLflow store found: postgres is not running and mlruns\mlflow.db does not exist 1>&2
        goto failed
    )
    rem The copy runs inside the MLflow container, whose Python has SQLite's online backup,
    rem so it stays consistent while the server writes.
    echo manage: copying the SQLite store
    %COMPOSE% run --rm --no-deps -T --entrypoint python mlflow-server -c "import sqlite3; s=sqlite3.connect('file:/srv/mlruns/mlflow.db?mode=ro', uri=True); t=sqlite3.connect('/srv/mlruns/.backup.db'); s.backup(t); t.close(); s.close()" || goto failed
    move /y "%CPS_DATA_ROOT%\mlruns\.backup.db" "%STAGING%\mlflow.db" >nul || goto failed
    echo store=sqlite> "%STAGING%\BACKUP_INFO"
)
echo created=%STAMP%>> "%STAGING%\BACKUP_INFO"
if exist "%CPS_DATA_ROOT%\mlruns\artifacts" (
    xcopy /e /i /q /y "%CPS_DATA_ROOT%\mlruns\artifacts" "%STAGING%\artifacts" >nul || goto failed
) else (
    mkdir "%STAGING%\artifacts"
)
set "ARCHIVE=%CPS_BACKUP_DIR%\cps-backup-%STAMP%.tar.gz"
tar -C "%STAGING%" -czf "%ARCHIVE%" . || goto failed
rmdir /s /q "%STAGING%"
echo manage: backup written
echo %ARCHIVE%
goto done

:restore
set "ARCHIVE=%~2"
if "%ARCHIVE%"=="" (
    echo manage: ERROR: restore needs the archive: docker\manage.bat restore backups\cps-backup-TIME.tar.gz 1>&2
    goto failed
)
if not exist "%ARCHIVE%" (
    echo manage: ERROR: backup archive %ARCHIVE% not found; list %CPS_BACKUP_DIR% for the available ones 1>&2
    goto failed
)
set "STAGING=%TEMP%\cps-restore-%RANDOM%%RANDOM%"
mkdir "%STAGING%" || goto failed
tar -C "%STAGING%" -xzf "%ARCHIVE%" || goto failed
set "STORE="
for /f "tokens=1,* delims==" %%a in ('type "%STAGING%\BACKUP_INFO" 2^>nul') do if "%%a"=="store" set "STORE=%%b"
if not "%STORE%"=="sqlite" if not "%STORE%"=="postgres" (
    echo manage: ERROR: %ARCHIVE% is not a backup of this stack: BACKUP_INFO is missing or names store '%STORE%' 1>&2
    goto failed
)
rem The server must not hold the store open while it is replaced.
%COMPOSE_ALL% stop mlflow-server
if "%STORE%"=="postgres" (
    %COMPOSE_ALL% exec -T postgres pg_restore --username=mlflow --dbname=mlflow --clean --if-exists < "%STAGING%\mlflow.pgdump" || goto failed
) else (
    copy /y "%STAGING%\mlflow.db" "%CPS_DATA_ROOT%\mlruns\mlflow.db" >nul || goto failed
    del /q "%CPS_DATA_ROOT%\mlruns\mlflow.db-wal" "%CPS_DATA_ROOT%\mlruns\mlflow.db-shm" 2>nul
)
if exist "%CPS_DATA_ROOT%\mlruns\artifacts" rmdir /s /q "%CPS_DATA_ROOT%\mlruns\artifacts"
xcopy /e /i /q /y "%STAGING%\artifacts" "%CPS_DATA_ROOT%\mlruns\artifacts" >nul || goto failed
rmdir /s /q "%STAGING%"
echo manage: restored %STORE% store and artifacts from %ARCHIVE%
%COMPOSE_ALL% up --detach --no-deps --wait --wait-timeout %WAIT_SECONDS% mlflow-server
goto done

:usage
for /f "tokens=* delims=" %%l in ('findstr /b /c:"rem   docker" "%~f0"') do (
    set "LINE=%%l"
    echo !LINE:~4!
)
if not "%VERB%"=="" if not "%VERB%"=="help" (
    echo manage: ERROR: unknown command '%VERB%'; use one of the commands above 1>&2
    goto failed
)
goto done

:failed
popd
exit /b 1

:done
set "STATUS=%ERRORLEVEL%"
popd
exit /b %STATUS%
